//! Java `.properties` text, as the servers' configuration files and the UPDATE_*_CONFIG bodies
//! carry it: reading entries with their line numbers, and writing values back escaped.
//!
//! Parsing is the `java-properties` crate's (ISO-8859-1 like `java.util.Properties.load`), so
//! `key=value`, `key = value`, `key:value`, `#`/`!` comments and `\` line continuations behave as
//! they do for RocketMQ. What each key means is the caller's business: this module only keeps
//! the line numbers that let an error or warning point at the line that caused it.

use std::collections::HashMap;
use std::fmt::Display;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use java_properties::{LineContent, PropertiesError, PropertiesIter};
use thiserror::Error;

/// One `key=value` pair, where it was found, and whether an earlier line set the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number of the line the pair starts on.
    pub line: usize,
    pub key: String,
    pub value: String,
    /// The line that first set this key, when this one overrides it. Java's `Properties` keeps
    /// the later value silently; callers warn, since it is usually an editing accident.
    pub repeats_line: Option<usize>,
}

impl Entry {
    /// The warning for a repeated key, naming both lines; `None` for a first occurrence.
    pub fn repeat_warning(&self, origin: impl Display) -> Option<String> {
        self.repeats_line.map(|first| {
            format!(
                "{}: {} repeats line {first}; the later value wins",
                location(origin, Some(self.line)),
                self.key
            )
        })
    }
}

/// Why properties text could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: malformed properties: {}", location(origin, *line), describe(source))]
    Malformed {
        /// The file (or a description of the request) the text came from.
        origin: String,
        line: Option<usize>,
        source: PropertiesError,
    },
}

/// Reads every entry of a properties file, in file order.
pub fn read_file(path: &Path) -> Result<Vec<Entry>, ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    read_entries(BufReader::new(file), &path.display().to_string())
}

/// Reads every entry of properties text held in memory (a request body); `origin` names it in
/// errors.
pub fn read_text(text: &str, origin: &str) -> Result<Vec<Entry>, ReadError> {
    read_entries(text.as_bytes(), origin)
}

fn read_entries(reader: impl Read, origin: &str) -> Result<Vec<Entry>, ReadError> {
    let mut entries = Vec::new();
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for line in PropertiesIter::new(reader) {
        let line = line.map_err(|source| ReadError::Malformed {
            origin: origin.to_owned(),
            line: source.line_number(),
            source,
        })?;
        let number = line.line_number();
        let LineContent::KVPair(key, value) = line.consume_content() else {
            continue;
        };
        let repeats_line = match first_seen.get(&key) {
            Some(first) => Some(*first),
            None => {
                first_seen.insert(key.clone(), number);
                None
            }
        };
        entries.push(Entry {
            line: number,
            key,
            value,
            repeats_line,
        });
    }
    Ok(entries)
}

/// `key=value` lines sorted by key, values escaped so that `java.util.Properties.load` (and
/// [`read_file`]) gives them back unchanged: the GET_*_CONFIG body and `-p` output.
pub fn format_sorted(mut entries: Vec<(&str, String)>) -> String {
    entries.sort_unstable_by_key(|(key, _)| *key);
    entries
        .iter()
        .map(|(key, value)| format!("{key}={}\n", escape_value(value)))
        .collect()
}

/// Escapes a value the way `Properties.store` does: backslashes, control characters, a leading
/// space, and non-ASCII characters as `\uXXXX` (the file is read as ISO-8859-1).
pub fn escape_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for (index, character) in value.chars().enumerate() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\x0c' => escaped.push_str("\\f"),
            ' ' if index == 0 => escaped.push_str("\\ "),
            // Characters beyond the BMP stay as they are: the reader has no surrogate pairs.
            c if (c > '\x7e' && c <= '\u{ffff}') || c < ' ' => {
                escaped.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// Like Java's `Boolean.parseBoolean`, except that anything other than true/false (any case) is
/// `None` rather than a silent `false`, so that callers can refuse it.
pub fn parse_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Expands a leading `~` (alone or followed by `/`) to the home directory, as a shell would;
/// `~user` forms are left alone.
pub fn expand_home(value: &str) -> PathBuf {
    if value == "~" {
        return home_dir();
    }
    match value.strip_prefix("~/") {
        Some(rest) => home_dir().join(rest),
        None => PathBuf::from(value),
    }
}

/// `$HOME` (or the password database); Java's `user.home`. Without one, paths stay relative to
/// the working directory rather than failing start-up.
pub fn home_dir() -> PathBuf {
    std::env::home_dir().unwrap_or_default()
}

/// `origin line N`, or just `origin` when the line is unknown.
pub fn location(origin: impl Display, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{origin} line {line}"),
        None => origin.to_string(),
    }
}

/// The crate's message without its " (line_number = N)" suffix: the line is already in front.
fn describe(error: &PropertiesError) -> String {
    let text = error.to_string();
    match text.rfind(" (line_number = ") {
        Some(suffix) => text[..suffix].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_lines_and_note_repeats() {
        let text = "# comment\na=1\n\nb = two \\\n  lines\na:3\n";
        let entries = read_text(text, "body").unwrap();
        let found: Vec<_> = entries
            .iter()
            .map(|e| (e.line, e.key.as_str(), e.value.as_str(), e.repeats_line))
            .collect();
        assert_eq!(
            found,
            [
                (2, "a", "1", None),
                (4, "b", "two lines", None),
                (6, "a", "3", Some(2)),
            ]
        );
        assert_eq!(entries[0].repeat_warning("f"), None);
        assert_eq!(
            entries[2].repeat_warning("f").as_deref(),
            Some("f line 6: a repeats line 2; the later value wins")
        );
    }

    #[test]
    fn malformed_text_names_origin_and_line() {
        let error = read_text("a=1\nb=\\u12\n", "the body").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("the body line 2: malformed properties: "),
            "{message}"
        );
    }

    #[test]
    fn escaped_values_read_back_unchanged() {
        let values = [
            " lead",
            "back\\slash",
            "tab\there",
            "é ☃",
            "a=b:c#d!e",
            "line\nbreak",
        ];
        let entries: Vec<(&str, String)> = ["k0", "k1", "k2", "k3", "k4", "k5"]
            .into_iter()
            .zip(values.iter().map(|v| (*v).to_owned()))
            .collect();
        let text = format_sorted(entries);
        let read = read_text(&text, "text").unwrap();
        let read_values: Vec<&str> = read.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(read_values, values);
    }

    #[test]
    fn format_sorted_sorts_by_key() {
        let text = format_sorted(vec![("b", "2".to_owned()), ("a", "1".to_owned())]);
        assert_eq!(text, "a=1\nb=2\n");
    }

    #[test]
    fn booleans_are_strict_but_case_blind() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool(""), None);
    }
}
