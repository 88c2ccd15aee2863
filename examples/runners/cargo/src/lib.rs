//! Unit tests: one stable, and a plain failing / passing pair so that
//! selection is observable.

pub fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::add;

    #[test]
    fn stable() {
        assert_eq!(add(2, 2), 4);
    }

    #[test]
    fn plain_fails() {
        assert_eq!(add(1, 1), 3, "deterministic failure");
    }

    #[test]
    fn plain_passes() {
        assert_eq!(add(1, 1), 2);
    }
}
