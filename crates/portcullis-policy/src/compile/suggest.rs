//! "Did you mean …?" for misspelt keys and values.

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A hint naming the closest candidate, or else listing them all.
pub(super) fn hint(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(best) => format!("did you mean {best:?}?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(
            closest("deny_iff", &["require", "deny_if", "limits"]),
            Some("deny_if")
        );
        assert_eq!(closest("lte", &["lt", "lte", "gte"]), Some("lte"));
        assert_eq!(closest("equals", &["eq", "neq", "in"]), None);
        assert_eq!(hint("equals", &["eq", "neq"]), "expected one of: eq, neq");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
