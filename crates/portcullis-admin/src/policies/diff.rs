//! Unified diffs between policy versions, as operators read them in reviews.

use similar::TextDiff;

/// The unified diff from `old` to `new`, headed with the two labels. Empty when they are equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_marked_and_equal_texts_give_nothing() {
        let diff = unified("a\nb\nc\n", "a\nB\nc\n", "p@1", "p@2");
        assert!(diff.starts_with("--- p@1\n+++ p@2\n"), "{diff}");
        assert!(diff.contains("-b\n+B\n"), "{diff}");
        assert_eq!(unified("same\n", "same\n", "x", "y"), "");
    }
}
