//! Aligned text tables for `mqadmin` output.
//!
//! Java's tools pad columns to fixed widths (`%-32s`), which misaligns as soon as a value is
//! longer. These tables size each column to its widest cell instead, keep RocketMQ's
//! `#Heading` names so that scripts that look for them still find them, and trim trailing
//! spaces. Cells never contain the column separator, so a row splits back into its cells on
//! runs of two or more spaces (see [`split_row`]), which tests use.

use std::io::{self, Write};

/// Columns are separated by at least this many spaces.
const GAP: &str = "  ";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    headings: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns whose cells are right-aligned (numbers).
    right: Vec<bool>,
}

impl Table {
    /// A table with these headings, every column left-aligned.
    pub fn new<I, S>(headings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let headings: Vec<String> = headings.into_iter().map(Into::into).collect();
        let right = vec![false; headings.len()];
        Table {
            headings,
            rows: Vec::new(),
            right,
        }
    }

    /// Right-aligns the columns at these indexes (counts and offsets read better so).
    pub fn right_aligned(mut self, columns: &[usize]) -> Self {
        for &column in columns {
            if let Some(flag) = self.right.get_mut(column) {
                *flag = true;
            }
        }
        self
    }

    /// Adds a row; missing cells are blank and extra cells are dropped. Runs of spaces and
    /// line breaks inside a cell become one space, so that the row stays one line and
    /// splits back into the same cells.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .map(|cell| clean(&cell.into()))
            .take(self.headings.len())
            .collect();
        row.resize(self.headings.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headings.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }

    fn line(&self, cells: &[String], widths: &[usize]) -> String {
        let mut line = String::new();
        for (index, (cell, &width)) in cells.iter().zip(widths).enumerate() {
            if index > 0 {
                line.push_str(GAP);
            }
            let pad = width.saturating_sub(cell.chars().count());
            if self.right[index] {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        line.trim_end().to_owned()
    }

    /// The table as text: a heading line, then one line per row.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut text = self.line(&self.headings, &widths);
        text.push('\n');
        for row in &self.rows {
            text.push_str(&self.line(row, &widths));
            text.push('\n');
        }
        text
    }

    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.render().as_bytes())
    }
}

/// A cell with whitespace runs collapsed: one line, never two spaces in a row.
fn clean(cell: &str) -> String {
    cell.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits a rendered row into its cells: on runs of two or more spaces. An empty cell in
/// the middle of a row merges into the gap, so rows are split for reading, not round trips.
pub fn split_row(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

/// `key: value` lines with the keys padded to one width: at least `min_width` (Java's
/// message detail uses `%-20s %s`), more when a key is longer.
pub fn key_values<'a>(
    min_width: usize,
    pairs: impl IntoIterator<Item = (&'a str, String)>,
) -> String {
    let pairs: Vec<(&str, String)> = pairs.into_iter().collect();
    let longest = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let width = longest.max(min_width);
    pairs
        .iter()
        .map(|(key, value)| format!("{key:<width$} {value}").trim_end().to_owned() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell() {
        let mut table = Table::new(["#Broker Name", "#QID", "#Max Offset"]).right_aligned(&[1, 2]);
        table.row(["broker-a", "0", "10"]);
        table.row(["a-much-longer-broker-name", "12", "7"]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "#Broker Name               #QID  #Max Offset");
        assert_eq!(lines[1], "broker-a                      0           10");
        assert_eq!(lines[2], "a-much-longer-broker-name    12            7");
        assert_eq!(
            split_row(lines[2]),
            ["a-much-longer-broker-name", "12", "7"]
        );
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn cells_stay_on_one_line_and_rows_keep_their_shape() {
        let mut table = Table::new(["#A", "#B"]);
        table.row(["two  spaces\nand a break", "x", "dropped"]);
        table.row(["only one"]);
        let text = table.render();
        assert!(!text.contains("dropped"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(split_row(lines[1]), ["two spaces and a break", "x"]);
        assert_eq!(split_row(lines[2]), ["only one"]);
        assert_eq!(
            key_values(
                0,
                [("Topic:", "T".to_owned()), ("Queue ID:", "3".to_owned())]
            ),
            "Topic:    T\nQueue ID: 3\n"
        );
        assert_eq!(key_values(8, [("Topic:", "T".to_owned())]), "Topic:   T\n");
    }
}
