//! "Did you mean ...?" for misspelt keys, values and service names.

/// The edit distance between `a` and `b`, counting a swap of two neighbouring characters as
/// one edit (so `prot` is one edit from `port`): the optimal-string-alignment distance.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back for transpositions, one back, and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be what was meant: about one
/// edit per three characters of the shorter of the two (so `prot` suggests `port`, and `db`
/// suggests nothing rather than `b`).
pub(crate) fn suggest<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lowered = word.to_lowercase();
    let word_len = word.chars().count();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (edit_distance(&lowered, &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance * 3 <= word_len.min(c.chars().count()) + 1)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("port", "port"), 0);
        assert_eq!(edit_distance("prot", "port"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("ca", "abc"), 3);
    }

    #[test]
    fn suggestions_are_close_or_absent() {
        let keys = ["port", "protocol", "process_patterns", "critical"];
        assert_eq!(suggest("prot", keys).as_deref(), Some("port"));
        assert_eq!(suggest("protocl", keys).as_deref(), Some("protocol"));
        assert_eq!(suggest("Critcal", keys).as_deref(), Some("critical"));
        assert_eq!(suggest("banana", keys), None);
        assert_eq!(suggest("x", keys), None);
        assert_eq!(suggest("db", ["b", "web"]), None);
        assert_eq!(
            suggest("fronend", ["backend", "frontend"]).as_deref(),
            Some("frontend")
        );
    }
}
