//! Tables for people: a header row, then one row per item, columns as wide as their widest
//! cell. Numbers are right-aligned; the last column is never padded.

use crate::output;

/// How a column aligns its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table being filled.
pub(crate) struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub(crate) fn new(headers: &[(&'static str, Align)]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table's lines: header first.
    pub(crate) fn lines(&self) -> Vec<String> {
        let widths: Vec<usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, (h, _))| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain(std::iter::once(h.len()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let render = |cells: Vec<&str>| -> String {
            let last = cells.len().saturating_sub(1);
            let mut line = String::new();
            for (i, cell) in cells.into_iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                match self.headers[i].1 {
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(cell);
                    }
                    Align::Left if i == last => line.push_str(cell),
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            line.trim_end().to_owned()
        };
        let mut out = vec![render(self.headers.iter().map(|(h, _)| *h).collect())];
        for row in &self.rows {
            out.push(render(row.iter().map(String::as_str).collect()));
        }
        out
    }

    /// Prints the table on stdout.
    pub(crate) fn print(&self) {
        for line in self.lines() {
            output::line(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_their_headers() {
        let mut t = Table::new(&[
            ("ID", Align::Left),
            ("PRICE", Align::Right),
            ("NOTE", Align::Left),
        ]);
        t.row(vec!["abc".into(), "1.20 USD".into(), "x".into()]);
        t.row(vec![
            "abcdef".into(),
            "0.5 EUR".into(),
            "longer note".into(),
        ]);
        assert_eq!(
            t.lines(),
            [
                "ID         PRICE  NOTE",
                "abc     1.20 USD  x",
                "abcdef   0.5 EUR  longer note",
            ]
        );
    }
}
