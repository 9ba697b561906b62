//! Tool-name patterns: exact names or globs with `*` (any run of characters) and `?` (one character).

/// A tool name or glob, as written under `hide` or as a key of `tools`.
#[derive(Clone, Debug)]
pub(crate) struct NamePattern {
    text: Box<str>,
    is_glob: bool,
}

impl NamePattern {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.into(),
            is_glob: text.contains(['*', '?']),
        }
    }

    pub(crate) fn is_glob(&self) -> bool {
        self.is_glob
    }

    /// How much of the pattern is literal; among globs matching one name, the most specific wins.
    pub(crate) fn specificity(&self) -> usize {
        self.text.chars().filter(|c| !matches!(c, '*' | '?')).count()
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        if self.is_glob {
            glob_match(self.text.as_bytes(), name.as_bytes())
        } else {
            *self.text == *name
        }
    }
}

/// Iterative glob matching with single-star backtracking: linear in practice, never exponential.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            // `?` matches one byte; tool names are ASCII in practice and a multi-byte character simply
            // needs as many `?`s as it has bytes, which never makes a match unsafe.
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_glob_matching() {
        let cases = [
            ("delete_*", "delete_repo", true),
            ("delete_*", "delete_", true),
            ("delete_*", "undelete_repo", false),
            ("*", "anything", true),
            ("*", "", true),
            ("get_?", "get_a", true),
            ("get_?", "get_ab", false),
            ("*_repo*", "fork_repository", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("list_tools", "list_tools", true),
            ("list_tools", "list_tool", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                NamePattern::new(pattern).matches(name),
                expected,
                "{pattern} vs {name}"
            );
        }
    }

    #[test]
    fn specificity_counts_literals() {
        assert!(NamePattern::new("delete_*").specificity() > NamePattern::new("d*").specificity());
        assert!(!NamePattern::new("plain").is_glob());
    }
}
