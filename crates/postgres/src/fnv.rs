//! The template cache key's hash.

/// FNV-1a, 128 bit: stable across Rust releases (unlike `DefaultHasher`), so the
/// cache key does not change when flakebox is rebuilt. Collisions need not be
/// adversarially hard: the key only separates a user's own init contents.
pub(crate) struct Fnv128(u128);

impl Fnv128 {
    pub(crate) fn new() -> Self {
        Fnv128(0x6c62272e07bb014262b821756295c58d)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u128::from(*b);
            self.0 = self.0.wrapping_mul(0x0000000001000000000000000000013B);
        }
    }

    /// Length-prefixed, so ("ab","c") and ("a","bc") differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    pub(crate) fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable_and_length_prefixed() {
        let mut a = Fnv128::new();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Fnv128::new();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.hex(), b.hex());
        let mut e = Fnv128::new();
        e.write(b"");
        assert_eq!(e.hex(), "6c62272e07bb014262b821756295c58d");
    }
}
