//! The size limit of the sandbox's fresh /tmp, /var/tmp and /dev/shm
//! (`--tmp-size`): each is a tmpfs, whose pages are the host's memory (and
//! swap); without a limit the kernel allows each half of it. A command that
//! fills one gets ENOSPC.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A tmpfs size: bytes, or a percentage of the host's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TmpSize {
    Bytes(u64),
    PercentOfMemory(u8),
}

impl TmpSize {
    /// A quarter of the host's memory for each of the three: together they
    /// cannot take all of it, and a test's scratch files rarely come close.
    pub const DEFAULT: TmpSize = TmpSize::PercentOfMemory(25);

    /// tmpfs's `size=` mount option.
    pub fn mount_option(self) -> String {
        match self {
            TmpSize::Bytes(b) => format!("size={b}"),
            TmpSize::PercentOfMemory(p) => format!("size={p}%"),
        }
    }
}

impl Default for TmpSize {
    fn default() -> Self {
        TmpSize::DEFAULT
    }
}

impl fmt::Display for TmpSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TmpSize::Bytes(b) => write!(f, "{b}"),
            TmpSize::PercentOfMemory(p) => write!(f, "{p}%"),
        }
    }
}

/// Why a `--tmp-size` value was refused: one line naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{shown}`: {why}; give a size with an optional k, m or g suffix (512m, 4g) or a percentage of memory (1% to 100%)"
)]
pub struct TmpSizeError {
    shown: String,
    why: &'static str,
}

impl FromStr for TmpSize {
    type Err = TmpSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| TmpSizeError { shown: s.escape_default().to_string(), why };
        let t = s;
        if let Some(p) = t.strip_suffix('%') {
            return match p.parse::<u8>() {
                Ok(n @ 1..=100) => Ok(TmpSize::PercentOfMemory(n)),
                _ => Err(err("not a whole percentage from 1 to 100")),
            };
        }
        let (digits, shift) = match t.as_bytes().last() {
            Some(b'k' | b'K') => (&t[..t.len() - 1], 10),
            Some(b'm' | b'M') => (&t[..t.len() - 1], 20),
            Some(b'g' | b'G') => (&t[..t.len() - 1], 30),
            _ => (t, 0),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("not a whole number of bytes"));
        }
        let n: u64 = digits.parse().map_err(|_| err("too large"))?;
        let bytes = n.checked_mul(1 << shift).ok_or_else(|| err("too large"))?;
        // The kernel rounds up to whole pages; zero would mean no limit.
        match bytes {
            0 => Err(err("zero would mean no limit at all")),
            b => Ok(TmpSize::Bytes(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_percentages() {
        assert_eq!("512m".parse(), Ok(TmpSize::Bytes(512 << 20)));
        assert_eq!("4G".parse(), Ok(TmpSize::Bytes(4 << 30)));
        assert_eq!("64k".parse(), Ok(TmpSize::Bytes(64 << 10)));
        assert_eq!("1048576".parse(), Ok(TmpSize::Bytes(1 << 20)));
        assert_eq!("25%".parse(), Ok(TmpSize::PercentOfMemory(25)));
        assert_eq!("100%".parse(), Ok(TmpSize::PercentOfMemory(100)));
        assert_eq!(TmpSize::default().mount_option(), "size=25%");
        assert_eq!(TmpSize::Bytes(8 << 20).mount_option(), "size=8388608");
    }

    #[test]
    fn refuses_what_tmpfs_would_misread_with_one_line_naming_it() {
        for (bad, why) in [
            ("0", "zero"),
            ("0%", "percentage"),
            ("101%", "percentage"),
            ("-1g", "whole number"),
            ("1.5g", "whole number"),
            ("g", "whole number"),
            ("", "whole number"),
            ("12t", "whole number"),
            ("99999999999999999999", "too large"),
            ("17179869184g", "too large"),
            ("1g\n", "whole number"),
        ] {
            let e = bad.parse::<TmpSize>().expect_err(bad).to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.starts_with(&format!("`{}`: ", bad.escape_default())), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
