//! Reading the Prometheus text format that `/metrics` serves, for tools that watch nodes from
//! outside: the testnet runner and the network bench. The node itself only writes it
//! (`prometheus-client`).
//!
//! ```
//! use flashback_node::prometheus;
//!
//! let text = "# TYPE flashback_objects counter\n\
//!     flashback_objects_total{kind=\"offer\",verdict=\"accept\"} 12\n\
//!     flashback_objects_total{kind=\"offer\",verdict=\"reject\"} 3\n";
//! assert_eq!(prometheus::sum(text, "flashback_objects_total", &[("verdict", "reject")]), 3.0);
//! ```

/// One sample line: `name{label="value",…} value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The metric's name (for a counter, with its `_total` suffix).
    pub name: &'a str,
    /// The text between the braces, empty when there are none.
    labels: &'a str,
    /// The value.
    pub value: f64,
}

impl<'a> Sample<'a> {
    /// The value of label `key`, as written (escapes kept), if the sample has it.
    pub fn label(&self, key: &str) -> Option<&'a str> {
        let mut rest = self.labels;
        while let Some((k, after)) = rest.split_once("=\"") {
            let end = closing_quote(after)?;
            if k.trim_start_matches(',').trim() == key {
                return Some(&after[..end]);
            }
            rest = &after[end + 1..];
        }
        None
    }

    /// True when the sample has every `(key, value)` of `labels`.
    pub fn has(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.label(k) == Some(v))
    }
}

/// The index of the first unescaped `"` in `s`.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// Parses one line; `None` for comments, blank and unreadable lines.
fn sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find(['{', ' ']) {
        Some(i) if line[i..].starts_with('{') => {
            let inside = &line[i + 1..];
            // The closing brace is the first one outside a quoted label value.
            let mut end = None;
            let mut at = 0;
            while let Some(j) = inside[at..].find(['"', '}']) {
                let j = at + j;
                if inside[j..].starts_with('}') {
                    end = Some(j);
                    break;
                }
                at = j + 1 + closing_quote(&inside[j + 1..])? + 1;
            }
            let end = end?;
            (&line[..i], &inside[..end], &inside[end + 1..])
        }
        Some(i) => (&line[..i], "", &line[i..]),
        None => return None,
    };
    // The value, then an optional timestamp.
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Every sample of `text`, in order.
pub fn samples(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines().filter_map(sample)
}

/// The sum of the samples named `name` that have every `(key, value)` of `labels`.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .filter(|s| s.name == name && s.has(labels))
        .map(|s| s.value)
        .sum()
}

/// Every sample named `name`, or `<prefix>_name` for any prefix (libp2p's metrics carry a
/// prefix that depends on how their registry was nested), summed.
pub fn sum_any_prefix(text: &str, name: &str) -> f64 {
    let suffix = format!("_{name}");
    samples(text)
        .filter(|s| s.name == name || s.name.ends_with(&suffix))
        .map(|s| s.value)
        .sum::<f64>()
        .max(0.0)
}

/// The samples named `name` with every `(key, value)` of `labels`, summed per value of label
/// `by` (samples without it are left out), sorted by that value.
pub fn group(text: &str, name: &str, labels: &[(&str, &str)], by: &str) -> Vec<(String, f64)> {
    let mut groups = std::collections::BTreeMap::<String, f64>::new();
    for s in samples(text).filter(|s| s.name == name && s.has(labels)) {
        if let Some(key) = s.label(by) {
            *groups.entry(key.to_owned()).or_default() += s.value;
        }
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP flashback_objects Objects\n\
        # TYPE flashback_objects counter\n\
        flashback_objects_total{kind=\"offer\",outcome=\"accepted\",verdict=\"accept\"} 12\n\
        flashback_objects_total{kind=\"offer\",outcome=\"bad_signature\",verdict=\"reject\"} 3\n\
        flashback_objects_total{kind=\"unknown\",outcome=\"too_large\",verdict=\"reject\"} 4\n\
        flashback_objects_total{kind=\"offer\",outcome=\"duplicate\",verdict=\"ignore\"} 5\n\
        flashback_peers 3\n# EOF\n";

    #[test]
    fn samples_are_summed_and_grouped_by_label() {
        assert_eq!(
            sum(METRICS, "flashback_objects_total", &[("verdict", "reject")]),
            7.0
        );
        assert_eq!(sum(METRICS, "flashback_objects_total", &[]), 24.0);
        assert_eq!(sum(METRICS, "flashback_peers", &[]), 3.0);
        assert_eq!(sum(METRICS, "flashback_objects", &[]), 0.0);
        assert_eq!(
            group(
                METRICS,
                "flashback_objects_total",
                &[("verdict", "reject")],
                "outcome"
            ),
            vec![("bad_signature".into(), 3.0), ("too_large".into(), 4.0)]
        );
    }

    #[test]
    fn quoted_values_timestamps_and_junk() {
        let text = "a{path=\"/x y\",note=\"say \\\"}\\\" twice\",kind=\"k\"} 2 1700000000000\n\
            a{kind=\"k\"} 1.5\n\
            a{kind=\"other\"} 1e3\n\
            b{unterminated=\"x} 4\n\
            c not-a-number\n\
            d{} 7\n";
        let all: Vec<Sample<'_>> = samples(text).collect();
        assert_eq!(all.len(), 4, "{all:?}");
        assert_eq!(all[0].label("note"), Some("say \\\"}\\\" twice"));
        assert_eq!(all[0].label("path"), Some("/x y"));
        assert_eq!(all[0].label("missing"), None);
        assert_eq!(all[0].value, 2.0);
        assert_eq!(sum(text, "a", &[("kind", "k")]), 3.5);
        assert_eq!(sum(text, "a", &[("kind", "other")]), 1000.0);
        assert_eq!(sum(text, "d", &[]), 7.0);
    }
}
