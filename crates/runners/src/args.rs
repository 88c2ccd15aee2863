//! Splitting a runner's arguments into options (with their values) and
//! positional words, so a plan can drop or replace some and keep the rest.

/// One argument as the runner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// An option: its name (`--junitxml`, `-k`, `-run`) and the words it
    /// occupies (`["--junitxml=x"]` or `["-k", "expr"]`).
    Opt { name: String, words: Vec<String> },
    /// A positional word (a path, a filter, a package, a goal).
    Pos(String),
    /// `--` and everything after it.
    Rest(Vec<String>),
}

/// How a runner spells its options.
pub(crate) struct Syntax<'a> {
    /// Options that take a value in the next word when not given `=value`.
    pub takes_value: &'a [&'a str],
    /// Single-dash options are letters that may carry their value attached
    /// (`-kexpr`); false for Go's `-run` style.
    pub short_letters: bool,
    /// `--` ends the options (and is kept as [`Arg::Rest`]).
    pub double_dash_rest: bool,
}

pub(crate) fn scan(args: &[String], syntax: &Syntax<'_>) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        if w == "--" && syntax.double_dash_rest {
            out.push(Arg::Rest(args[i..].to_vec()));
            break;
        }
        if !w.starts_with('-') || w == "-" {
            out.push(Arg::Pos(w.clone()));
            i += 1;
            continue;
        }
        let (name, attached) = if w.starts_with("--") || !syntax.short_letters {
            match w.split_once('=') {
                Some((n, _)) => (n.to_string(), true),
                None => (w.clone(), false),
            }
        } else if w.len() > 2 && syntax.takes_value.contains(&&w[..2]) {
            (w[..2].to_string(), true)
        } else {
            (w.clone(), false)
        };
        if !attached && syntax.takes_value.contains(&name.as_str()) && i + 1 < args.len() {
            out.push(Arg::Opt { name, words: vec![w.clone(), args[i + 1].clone()] });
            i += 2;
        } else {
            out.push(Arg::Opt { name, words: vec![w.clone()] });
            i += 1;
        }
    }
    out
}

pub(crate) fn words(args: &[Arg]) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Arg::Opt { words, .. } => out.extend(words.iter().cloned()),
            Arg::Pos(w) => out.push(w.clone()),
            Arg::Rest(ws) => out.extend(ws.iter().cloned()),
        }
    }
    out
}

/// Drop the options named in `names`.
pub(crate) fn without_opts(args: Vec<Arg>, names: &[&str]) -> Vec<Arg> {
    args.into_iter()
        .filter(|a| !matches!(a, Arg::Opt { name, .. } if names.contains(&name.as_str())))
        .collect()
}

/// Drop the positional words.
pub(crate) fn without_positionals(args: Vec<Arg>) -> Vec<Arg> {
    args.into_iter().filter(|a| !matches!(a, Arg::Pos(_))).collect()
}

pub(crate) fn has_opt(args: &[Arg], names: &[&str]) -> bool {
    args.iter().any(|a| matches!(a, Arg::Opt { name, .. } if names.contains(&name.as_str())))
}

/// The value of the last option named in `names`.
pub(crate) fn opt_value(args: &[Arg], names: &[&str]) -> Option<String> {
    opt_values(args, names).pop()
}

/// The values of the options named in `names`, in order.
pub(crate) fn opt_values(args: &[Arg], names: &[&str]) -> Vec<String> {
    args.iter()
        .filter_map(|a| match a {
            Arg::Opt { name, words } if names.contains(&name.as_str()) => match words.as_slice() {
                [_, v] => Some(v.clone()),
                [w] => w.split_once('=').map(|(_, v)| v.to_string()).or_else(|| {
                    // `-Pci`: a short option with its value attached.
                    (w.len() > name.len()).then(|| w[name.len()..].to_string())
                }),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Escape a string for a regular expression (the syntax shared by Rust's
/// regex, Go's RE2 and JavaScript).
pub(crate) fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ws: &[&str]) -> Vec<String> {
        ws.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scans_values_attached_and_separate() {
        let syn = Syntax { takes_value: &["-k", "--tb"], short_letters: true, double_dash_rest: true };
        let a = scan(&v(&["-x", "-k", "a or b", "--tb=short", "-kfoo", "tests/", "--", "z"]), &syn);
        assert_eq!(
            a,
            vec![
                Arg::Opt { name: "-x".into(), words: v(&["-x"]) },
                Arg::Opt { name: "-k".into(), words: v(&["-k", "a or b"]) },
                Arg::Opt { name: "--tb".into(), words: v(&["--tb=short"]) },
                Arg::Opt { name: "-k".into(), words: v(&["-kfoo"]) },
                Arg::Pos("tests/".into()),
                Arg::Rest(v(&["--", "z"])),
            ]
        );
        assert_eq!(opt_value(&a, &["-k"]), Some("foo".into()));
        assert_eq!(opt_value(&a, &["--tb"]), Some("short".into()));
        assert_eq!(words(&a).len(), 8);
        let go = Syntax { takes_value: &["-run"], short_letters: false, double_dash_rest: false };
        assert_eq!(
            scan(&v(&["-run", "X", "-v", "./..."]), &go),
            vec![
                Arg::Opt { name: "-run".into(), words: v(&["-run", "X"]) },
                Arg::Opt { name: "-v".into(), words: v(&["-v"]) },
                Arg::Pos("./...".into()),
            ]
        );
    }

    #[test]
    fn escapes_regex() {
        assert_eq!(regex_escape("a.b(c)|d"), "a\\.b\\(c\\)\\|d");
    }
}
