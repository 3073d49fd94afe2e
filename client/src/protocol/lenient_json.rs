//! Parses the JSON that Java peers write with fastjson, which is not always JSON.
//!
//! Java servers and admin tools serialize bodies with `JSON.toJSONString` (protocol.md §3.2):
//! map keys that are numbers come out bare, and map keys that are beans come out as inline
//! objects. [`parse_lenient`] tries a strict parse first and, only when the text is not valid
//! JSON, rewrites these forms into standard JSON and parses again:
//!
//! ```text
//!  fastjson writes                        rewritten to
//!  {0:"a",-1:"b"}                         {"0":"a","-1":"b"}
//!  {{"queueId":0,"topic":"T"}:5}          {"{\"queueId\":0,\"topic\":\"T\"}":5}
//!  {'k':'v'}   [1,2,]   {"a":1,}          {"k":"v"}   [1,2]   {"a":1}
//! ```
//!
//! An inline-object key becomes its own compact JSON text as a string, so a caller that
//! reads such a map as `BTreeMap<String, V>` can parse each key back with [`parse_lenient`].
//! Single quotes and trailing commas are accepted because fastjson's parser accepts them.
//!
//! The rewriter is a string-aware tokenizer, not a pattern match over the text: braces, colons
//! and escapes inside strings are copied untouched. It recurses once per nesting level and
//! stops at [`MAX_DEPTH`] (serde_json's own limit), so hostile input cannot exhaust the stack,
//! and its output is capped at a small multiple of the input so that it cannot exhaust memory.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ProtocolError;

/// Deepest nesting of objects and arrays accepted; matches serde_json's recursion limit so
/// that anything rewritten can also be parsed.
pub const MAX_DEPTH: usize = 128;
/// How many inline-object keys may nest inside each other. fastjson needs one level
/// (`MessageQueue` keys); each level escapes the quotes of the one inside, doubling its size,
/// so the limit also bounds how much the rewrite can grow the text.
const MAX_KEY_NESTING: usize = 4;
/// The rewritten text may be at most this many times the input (plus a constant). fastjson's
/// own output grows by well under 2× (two quotes per bare key, one backslash per quote in an
/// inline key); the margin leaves room for raw control characters, which grow 6× when escaped.
const MAX_GROWTH_FACTOR: usize = 8;
const GROWTH_SLACK_BYTES: usize = 1024;

/// Parses `bytes` as `T`, accepting fastjson's non-standard output as well as standard JSON.
///
/// `what` names the body in the error (for example `"TopicRouteData"`). Valid JSON that does
/// not fit `T` fails at once, without the rewrite, because rewriting cannot change its meaning.
pub fn parse_lenient<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, ProtocolError> {
    let strict_error = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    if strict_error.is_data() {
        return Err(json_body(what, strict_error.to_string()));
    }
    let standard = match to_standard_json(bytes, what) {
        Ok(standard) => standard,
        Err(rewrite_error) => {
            let reason = match rewrite_error {
                ProtocolError::JsonBody { reason, .. } => reason,
                other => other.to_string(),
            };
            return Err(json_body(
                what,
                format!("{strict_error}; as fastjson text: {reason}"),
            ));
        }
    };
    serde_json::from_slice(&standard).map_err(|error| {
        json_body(
            what,
            format!("{error} (in the text rewritten from fastjson form)"),
        )
    })
}

/// Rewrites fastjson's output (see the module docs) into compact standard JSON.
///
/// Insignificant whitespace is dropped, and raw control characters inside strings are escaped.
/// Standard JSON comes out equivalent to what went in.
pub fn to_standard_json(bytes: &[u8], what: &'static str) -> Result<Vec<u8>, ProtocolError> {
    // Validating once here lets the rewriter work on bytes: it only ever splits the text at
    // ASCII characters, so every piece it produces is valid UTF-8 as well.
    if std::str::from_utf8(bytes).is_err() {
        return Err(ProtocolError::InvalidUtf8 { field: what });
    }
    let output_limit = bytes
        .len()
        .saturating_mul(MAX_GROWTH_FACTOR)
        .saturating_add(GROWTH_SLACK_BYTES);
    let mut rewriter = Rewriter {
        input: bytes,
        position: 0,
        output: Vec::with_capacity(bytes.len().saturating_add(bytes.len() / 8)),
        output_limit,
    };
    rewriter
        .value(0, 0)
        .and_then(|()| rewriter.expect_end())
        .map_err(|reason| json_body(what, reason))?;
    Ok(rewriter.output)
}

/// Serializes `value` as compact JSON (no whitespace: the Go client splits `brokerAddrs` on
/// `,` and `:` and keeps any space it finds, protocol.md §3.2).
///
/// Fails only if `T`'s `Serialize` fails or it has map keys JSON cannot represent.
pub fn to_compact_json<T: Serialize + ?Sized>(
    value: &T,
    what: &'static str,
) -> Result<Vec<u8>, ProtocolError> {
    serde_json::to_vec(value).map_err(|error| json_body(what, error.to_string()))
}

/// Compact JSON of a type from this module's bodies, whose encoding cannot fail.
///
/// serde_json fails only on I/O (a `Vec` never fails), on map keys that are neither strings
/// nor integers, or on a custom `Serialize` that errs; the body types use none of those, and
/// each has an encode test, so reaching the error branch is a bug in this crate.
pub(crate) fn encode_body<T: Serialize + ?Sized>(value: &T, what: &'static str) -> Vec<u8> {
    match to_compact_json(value, what) {
        Ok(bytes) => bytes,
        Err(error) => unreachable!("body types always serialize: {error}"),
    }
}

fn json_body(what: &'static str, reason: String) -> ProtocolError {
    ProtocolError::JsonBody { what, reason }
}

/// One pass over the input, writing standard JSON to `output`.
///
/// Each method consumes exactly one syntactic element and leaves `position` just after it;
/// errors are plain strings naming the byte offset, wrapped into `ProtocolError` by the caller.
struct Rewriter<'a> {
    input: &'a [u8],
    position: usize,
    output: Vec<u8>,
    output_limit: usize,
}

impl<'a> Rewriter<'a> {
    /// A value at nesting `depth`; `key_nesting` counts the inline-object keys we are inside.
    fn value(&mut self, depth: usize, key_nesting: usize) -> Result<(), String> {
        self.skip_whitespace();
        let result = match self.peek() {
            Some(b'{') => self.object(depth + 1, key_nesting),
            Some(b'[') => self.array(depth + 1, key_nesting),
            Some(b'"') => self.double_quoted(),
            Some(b'\'') => self.single_quoted(),
            // Numbers, true, false, null: copied as they are. Anything else (NaN, a typo) is
            // copied too and left for serde_json to reject with its own precise message.
            Some(_) => self
                .bare_token()
                .map(|token| self.output.extend_from_slice(token)),
            None => Err(self.error("expected a value")),
        };
        result.and_then(|()| self.check_growth())
    }

    fn object(&mut self, depth: usize, key_nesting: usize) -> Result<(), String> {
        self.enter(depth)?;
        self.output.push(b'{');
        self.skip_whitespace();
        if self.eat(b'}') {
            self.output.push(b'}');
            return Ok(());
        }
        loop {
            self.key(depth, key_nesting)?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return Err(self.error("expected `:` after an object key"));
            }
            self.output.push(b':');
            self.value(depth, key_nesting)?;
            if self.close_or_separate(b'}', "expected `,` or `}` in an object")? {
                return Ok(());
            }
        }
    }

    fn array(&mut self, depth: usize, key_nesting: usize) -> Result<(), String> {
        self.enter(depth)?;
        self.output.push(b'[');
        self.skip_whitespace();
        if self.eat(b']') {
            self.output.push(b']');
            return Ok(());
        }
        loop {
            self.value(depth, key_nesting)?;
            if self.close_or_separate(b']', "expected `,` or `]` in an array")? {
                return Ok(());
            }
        }
    }

    /// Consumes the opening bracket of a container at `depth`, refusing to go deeper than
    /// [`MAX_DEPTH`].
    fn enter(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting deeper than 128 levels"));
        }
        self.position += 1;
        Ok(())
    }

    /// After a member: `Ok(true)` if the container closed, `Ok(false)` if another member
    /// follows. A comma directly before the closing bracket is dropped, as fastjson does.
    fn close_or_separate(&mut self, close: u8, message: &str) -> Result<bool, String> {
        self.skip_whitespace();
        if self.eat(close) {
            self.output.push(close);
            return Ok(true);
        }
        if !self.eat(b',') {
            return Err(self.error(message));
        }
        self.skip_whitespace();
        if self.eat(close) {
            self.output.push(close);
            return Ok(true);
        }
        self.output.push(b',');
        Ok(false)
    }

    fn key(&mut self, depth: usize, key_nesting: usize) -> Result<(), String> {
        self.skip_whitespace();
        let result = match self.peek() {
            Some(b'"') => self.double_quoted(),
            Some(b'\'') => self.single_quoted(),
            Some(b'{' | b'[') => self.composite_key(depth, key_nesting),
            // `{0:"a"}`: fastjson writes non-string map keys with their toString, unquoted.
            Some(_) => {
                let token = self.bare_token()?;
                self.push_as_string(token)
            }
            None => Err(self.error("expected an object key")),
        };
        result.and_then(|()| self.check_growth())
    }

    /// An object (or array) used as a key: rewritten on its own, then quoted as a string.
    fn composite_key(&mut self, depth: usize, key_nesting: usize) -> Result<(), String> {
        if key_nesting >= MAX_KEY_NESTING {
            return Err(self.error("object keys nested inside object keys too deeply"));
        }
        let outer = std::mem::take(&mut self.output);
        let result = self.value(depth, key_nesting + 1);
        let key_json = std::mem::replace(&mut self.output, outer);
        result?;
        self.push_as_string(&key_json)
    }

    /// Copies a double-quoted string, escaping raw control characters (which fastjson's
    /// parser tolerates and serde_json does not).
    fn double_quoted(&mut self) -> Result<(), String> {
        let start = self.position;
        self.position += 1;
        self.output.push(b'"');
        loop {
            let byte = self.next_in_string(start)?;
            match byte {
                b'"' => {
                    self.output.push(b'"');
                    return Ok(());
                }
                b'\\' => {
                    // Whatever follows a backslash is escaped, even a quote: copy both bytes
                    // so that an escaped quote does not end the string.
                    let escaped = self.next_in_string(start)?;
                    self.output.extend_from_slice(&[b'\\', escaped]);
                }
                0x00..=0x1F => self.push_control_escape(byte),
                _ => self.output.push(byte),
            }
        }
    }

    /// Converts a single-quoted string to a double-quoted one: `\'` loses its backslash and a
    /// bare `"` gains one.
    fn single_quoted(&mut self) -> Result<(), String> {
        let start = self.position;
        self.position += 1;
        self.output.push(b'"');
        loop {
            let byte = self.next_in_string(start)?;
            match byte {
                b'\'' => {
                    self.output.push(b'"');
                    return Ok(());
                }
                b'\\' => match self.next_in_string(start)? {
                    b'\'' => self.output.push(b'\''),
                    escaped => self.output.extend_from_slice(&[b'\\', escaped]),
                },
                b'"' => self.output.extend_from_slice(b"\\\""),
                0x00..=0x1F => self.push_control_escape(byte),
                _ => self.output.push(byte),
            }
        }
    }

    fn next_in_string(&mut self, start: usize) -> Result<u8, String> {
        let Some(&byte) = self.input.get(self.position) else {
            return Err(format!("unterminated string starting at byte {start}"));
        };
        self.position += 1;
        Ok(byte)
    }

    /// A run of bytes up to the next structural character, quote or whitespace.
    fn bare_token(&mut self) -> Result<&'a [u8], String> {
        let input: &'a [u8] = self.input;
        let start = self.position;
        while let Some(&byte) = input.get(self.position) {
            if is_whitespace(byte)
                || matches!(byte, b'{' | b'}' | b'[' | b']' | b':' | b',' | b'"' | b'\'')
            {
                break;
            }
            self.position += 1;
        }
        match input.get(start..self.position) {
            Some(token) if !token.is_empty() => Ok(token),
            _ => Err(self.error("unexpected character")),
        }
    }

    /// Writes `text` as a JSON string, escaping what needs escaping.
    fn push_as_string(&mut self, text: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(text).map_err(|_| self.error("key is not UTF-8"))?;
        serde_json::to_writer(&mut self.output, text).map_err(|error| error.to_string())
    }

    fn push_control_escape(&mut self, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let high = HEX[usize::from(byte >> 4)];
        let low = HEX[usize::from(byte & 0x0F)];
        self.output
            .extend_from_slice(&[b'\\', b'u', b'0', b'0', high, low]);
    }

    fn check_growth(&self) -> Result<(), String> {
        if self.output.len() > self.output_limit {
            return Err(format!(
                "rewritten text would exceed {} bytes (input is {} bytes)",
                self.output_limit,
                self.input.len()
            ));
        }
        Ok(())
    }

    fn expect_end(&mut self) -> Result<(), String> {
        self.skip_whitespace();
        if self.position < self.input.len() {
            return Err(self.error("trailing characters after the value"));
        }
        Ok(())
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.position += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.position).copied()
    }

    fn eat(&mut self, expected: u8) -> bool {
        if self.peek() == Some(expected) {
            self.position += 1;
            return true;
        }
        false
    }

    fn error(&self, message: &str) -> String {
        match self.peek() {
            Some(byte) if byte.is_ascii_graphic() => {
                format!(
                    "{message} at byte {} (found `{}`)",
                    self.position,
                    char::from(byte)
                )
            }
            Some(byte) => format!(
                "{message} at byte {} (found byte {byte:#04x})",
                self.position
            ),
            None => format!("{message} at byte {} (end of input)", self.position),
        }
    }
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::{Map, Value, json};

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn rewrite(text: &str) -> Result<String, Box<dyn std::error::Error>> {
        Ok(String::from_utf8(to_standard_json(
            text.as_bytes(),
            "test",
        )?)?)
    }

    #[test]
    fn bare_numeric_keys_are_quoted() -> TestResult {
        let parsed: BTreeMap<u64, String> = parse_lenient(br#"{0:"a",1:"b"}"#, "test")?;
        assert_eq!(
            parsed,
            BTreeMap::from([(0, "a".to_owned()), (1, "b".to_owned())])
        );
        assert_eq!(
            rewrite(r#"{0:"a", -1:"b", 2.5:3}"#)?,
            r#"{"0":"a","-1":"b","2.5":3}"#
        );
        let negative: BTreeMap<i64, i64> = parse_lenient(b"{-7:1,8:-2}", "test")?;
        assert_eq!(negative, BTreeMap::from([(-7, 1), (8, -2)]));
        Ok(())
    }

    #[test]
    fn inline_object_keys_become_string_keys_that_parse_back() -> TestResult {
        let text = r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"maxOffset":5},{"brokerName":"b","queueId":1,"topic":"T"}:{"maxOffset":7}}}"#;
        let parsed: Value = parse_lenient(text.as_bytes(), "test")?;
        let table = parsed["offsetTable"]
            .as_object()
            .ok_or("offsetTable is not an object")?;
        assert_eq!(table.len(), 2);
        let mut found = Vec::new();
        for (key, value) in table {
            let queue: Value = parse_lenient(key.as_bytes(), "key")?;
            assert_eq!(queue["brokerName"], "b");
            assert_eq!(queue["topic"], "T");
            found.push((queue["queueId"].as_i64(), value["maxOffset"].as_i64()));
        }
        found.sort_unstable();
        assert_eq!(found, vec![(Some(0), Some(5)), (Some(1), Some(7))]);
        assert_eq!(rewrite(r#"{{"a":1}:2}"#)?, r#"{"{\"a\":1}":2}"#);
        Ok(())
    }

    #[test]
    fn strings_with_structural_characters_are_copied_untouched() -> TestResult {
        // `'it''s'` is two adjacent strings, not a key: an error, not a panic.
        let text = r#"{"k{:}":"v,{0:1}\"}", 3 : "\\", 'it''s':'a "b" \'c\''}"#;
        assert!(to_standard_json(text.as_bytes(), "test").is_err());
        let text = r#"{"k{:}":"v,{0:1}\"}", 3 : "\\", 'its':'a "b" \'c\''}"#;
        let parsed: Value = parse_lenient(text.as_bytes(), "test")?;
        assert_eq!(
            parsed,
            json!({"k{:}": "v,{0:1}\"}", "3": "\\", "its": "a \"b\" 'c'"})
        );
        Ok(())
    }

    #[test]
    fn trailing_commas_and_control_characters_are_tolerated() -> TestResult {
        let parsed: Value = parse_lenient(b"{\"a\":[1,2,],\"b\":\"x\ty\",}", "test")?;
        assert_eq!(parsed, json!({"a": [1, 2], "b": "x\ty"}));
        Ok(())
    }

    #[test]
    fn valid_json_that_does_not_fit_fails_without_rewrite() {
        let result = parse_lenient::<BTreeMap<String, u32>>(br#"{"a":"x"}"#, "numbers");
        let Err(error) = result else {
            panic!("a string parsed as a number: {result:?}");
        };
        let text = error.to_string();
        assert!(text.contains("numbers"), "{text}");
        assert!(!text.contains("fastjson"), "{text}");
    }

    #[test]
    fn malformed_text_is_an_error_naming_the_body() {
        for text in [
            "",
            "{",
            "{0:}",
            "{\"a\" 1}",
            "[1 2]",
            "{\"a\":1}}",
            "\"open",
            "{'open:1}",
            "{,}",
        ] {
            let result = parse_lenient::<Value>(text.as_bytes(), "sample");
            assert!(
                matches!(result, Err(ProtocolError::JsonBody { what: "sample", .. })),
                "{text:?} gave {result:?}"
            );
        }
        assert!(matches!(
            to_standard_json(b"{0:\"\xff\"}", "sample"),
            Err(ProtocolError::InvalidUtf8 { field: "sample" })
        ));
        assert!(matches!(
            parse_lenient::<Value>(b"{0:\"\xff\"}", "sample"),
            Err(ProtocolError::JsonBody { what: "sample", .. })
        ));
    }

    #[test]
    fn nesting_is_limited() {
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(to_standard_json(deep_ok.as_bytes(), "test").is_ok());
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(to_standard_json(too_deep.as_bytes(), "test").is_err());
        // Far deeper than any stack would survive if the limits were missing.
        let hostile = "{0:".repeat(100_000);
        assert!(parse_lenient::<Value>(hostile.as_bytes(), "test").is_err());
        let keys = "{".repeat(100_000);
        assert!(parse_lenient::<Value>(keys.as_bytes(), "test").is_err());
    }

    #[test]
    fn nested_inline_keys_are_limited() {
        // Wrapping `1` n times in `{…:1}` gives n - 1 levels of keys inside keys.
        let mut text = String::from("1");
        for _ in 0..=MAX_KEY_NESTING {
            text = format!("{{{text}:1}}");
        }
        assert!(to_standard_json(text.as_bytes(), "test").is_ok(), "{text}");
        let deeper = format!("{{{text}:1}}");
        assert!(
            to_standard_json(deeper.as_bytes(), "test").is_err(),
            "{deeper}"
        );
    }

    #[test]
    fn compact_json_has_no_whitespace() -> TestResult {
        let bytes = to_compact_json(&json!({"a": [1, {"b": "c d"}]}), "test")?;
        assert_eq!(bytes, br#"{"a":[1,{"b":"c d"}]}"#);
        Ok(())
    }

    /// A random JSON value whose maps mix numeric keys with keys full of JSON punctuation.
    fn random_value(rng: &mut StdRng, depth: usize) -> Value {
        let choice = if depth >= 4 {
            rng.random_range(0..4)
        } else {
            rng.random_range(0..6)
        };
        match choice {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => json!(rng.random_range(-1_000_000i64..1_000_000)),
            3 => Value::String(random_text(rng)),
            4 => Value::Array(
                (0..rng.random_range(0..4))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            _ => {
                let mut map = Map::new();
                for _ in 0..rng.random_range(0..4) {
                    let key = if rng.random_bool(0.5) {
                        rng.random_range(-50i64..50).to_string()
                    } else {
                        random_text(rng)
                    };
                    map.insert(key, random_value(rng, depth + 1));
                }
                Value::Object(map)
            }
        }
    }

    fn random_text(rng: &mut StdRng) -> String {
        const ALPHABET: &[char] = &[
            'a', 'Z', '0', '{', '}', '[', ']', ':', ',', '"', '\'', '\\', ' ', '\n', 'é', '中',
        ];
        (0..rng.random_range(0..8))
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
            .collect()
    }

    /// Writes `value` the way fastjson writes a `Map<Long, _>`: numeric keys bare.
    fn write_fastjson(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                out.push('{');
                for (index, (key, member)) in map.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    if key.parse::<i64>().is_ok() {
                        out.push_str(key);
                    } else {
                        out.push_str(&Value::String(key.clone()).to_string());
                    }
                    out.push(':');
                    write_fastjson(member, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    write_fastjson(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }

    fn must_not_panic(seed: u64, iteration: usize, input: &[u8]) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // Ok or Err are both fine here; only a panic fails the test.
            let _ = parse_lenient::<Value>(input, "fuzz");
        }));
        assert!(
            outcome.is_ok(),
            "seed {seed:#x} iteration {iteration}: panicked on {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn random_fastjson_text_parses_to_the_value_it_encodes() {
        let seed = 0x5EED_F457;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut bare_keys = 0;
        for iteration in 0..500 {
            let value = random_value(&mut rng, 0);
            let mut text = String::new();
            write_fastjson(&value, &mut text);
            bare_keys += usize::from(serde_json::from_str::<Value>(&text).is_err());
            let parsed = parse_lenient::<Value>(text.as_bytes(), "fuzz");
            assert_eq!(
                parsed.ok(),
                Some(value),
                "seed {seed:#x} iteration {iteration}: {text}"
            );
        }
        // The test only proves something if many inputs really were invalid JSON.
        assert!(
            bare_keys > 50,
            "seed {seed:#x}: only {bare_keys} inputs had bare keys"
        );
    }

    #[test]
    fn random_bytes_and_mutations_never_panic() {
        const SYMBOLS: &[u8] = b"{}[]:,\"'\\0123-a \n\x00\xc3\xa9";
        let seed = 0xB01D_E5EE;
        let mut rng = StdRng::seed_from_u64(seed);
        for iteration in 0..400 {
            let length = rng.random_range(0..64);
            let noise: Vec<u8> = (0..length)
                .map(|_| {
                    if rng.random_bool(0.7) {
                        SYMBOLS[rng.random_range(0..SYMBOLS.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect();
            must_not_panic(seed, iteration, &noise);

            let mut text = String::new();
            write_fastjson(&random_value(&mut rng, 0), &mut text);
            let mut mutated = text.into_bytes();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..=mutated.len());
                let symbol = SYMBOLS[rng.random_range(0..SYMBOLS.len())];
                match rng.random_range(0..3) {
                    0 if at < mutated.len() => {
                        mutated.remove(at);
                    }
                    1 if at < mutated.len() => mutated[at] = symbol,
                    _ => mutated.insert(at, symbol),
                }
            }
            must_not_panic(seed, iteration, &mutated);
            mutated.truncate(rng.random_range(0..=mutated.len()));
            must_not_panic(seed, iteration, &mutated);
        }
    }
}
