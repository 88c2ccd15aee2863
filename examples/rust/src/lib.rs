//! The code under test is trivial on purpose: this crate exists to show the
//! cargo `runner` wiring. Its tests (in `tests/hermetic.rs`) pass only when
//! the test binary runs under `flakebox run`, which is what
//! `.cargo/config.toml` arranges.

/// Names of the network interfaces listed in a `/proc/net/dev` text.
pub fn interfaces(proc_net_dev: &str) -> Vec<String> {
    proc_net_dev
        .lines()
        .skip(2) // two header lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_proc_net_dev() {
        let text = "Inter-| Receive\n face |bytes\n    lo: 1 2\n  eth0: 3 4\n";
        assert_eq!(super::interfaces(text), ["lo", "eth0"]);
    }
}
