//! The JSON header (serialize type 0, protocol.md §1.3).
//!
//! Decoding is lenient because real clients differ: any key order and whitespace; missing
//! `serializeTypeCurrentRPC`, `remark`, `extFields`, `version`, `opaque`, `flag`; extFields
//! values as strings, numbers (C++) or booleans; unknown `language` names. Encoding is strict
//! because real clients are: compact, fastjson's alphabetical key order, every extFields value
//! a JSON string (Go and C++ ignore anything else), and `serializeTypeCurrentRPC` always
//! present (rocketmq-rust requires it).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::code::LanguageCode;
use super::command::{ExtFields, RemotingCommand, SerializeType};
use super::error::ProtocolError;

/// Longest extFields value a number or boolean may turn into; far above any real one.
const MAX_STRINGIFIED_BYTES: usize = 64;

#[derive(Deserialize)]
struct WireHeader {
    code: i32,
    #[serde(default, deserialize_with = "lenient_language")]
    language: LanguageCode,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(default, rename = "extFields", deserialize_with = "lenient_ext_fields")]
    ext_fields: ExtFields,
    #[serde(default, rename = "serializeTypeCurrentRPC")]
    _serialize_type: IgnoredAny,
}

pub(super) fn decode(header: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    let wire: WireHeader =
        serde_json::from_slice(header).map_err(|e| ProtocolError::JsonHeader(e.to_string()))?;
    Ok(RemotingCommand {
        code: wire.code,
        language: wire.language,
        version: wire.version,
        opaque: wire.opaque,
        flag: wire.flag,
        remark: wire.remark,
        ext_fields: wire.ext_fields,
        serialize_type: SerializeType::Json,
        body: bytes::Bytes::new(),
    })
}

/// Writes the header the way fastjson does, keys sorted:
/// `{"code":..,"extFields":{..},"flag":..,"language":"..","opaque":..,"remark":"..",
/// "serializeTypeCurrentRPC":"JSON","version":..}`. `remark` and an empty `extFields` are
/// omitted, as Java omits nulls.
pub(super) fn encode(command: &RemotingCommand) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + 32 * command.ext_fields.len());
    out.extend_from_slice(b"{\"code\":");
    out.extend_from_slice(command.code.to_string().as_bytes());
    if !command.ext_fields.is_empty() {
        out.extend_from_slice(b",\"extFields\":{");
        for (index, (key, value)) in command.ext_fields.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_json_string(&mut out, key);
            out.push(b':');
            write_json_string(&mut out, value);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"flag\":");
    out.extend_from_slice(command.flag.to_string().as_bytes());
    out.extend_from_slice(b",\"language\":");
    write_json_string(&mut out, command.language.name());
    out.extend_from_slice(b",\"opaque\":");
    out.extend_from_slice(command.opaque.to_string().as_bytes());
    if let Some(remark) = &command.remark {
        out.extend_from_slice(b",\"remark\":");
        write_json_string(&mut out, remark);
    }
    out.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    out.extend_from_slice(command.version.to_string().as_bytes());
    out.push(b'}');
    out
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Serializing a &str into a Vec cannot fail; fall back to an empty string rather than
    // panic if serde_json ever says otherwise.
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

fn lenient_language<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LanguageCode, D::Error> {
    struct LanguageVisitor;
    impl<'de> Visitor<'de> for LanguageVisitor {
        type Value = LanguageCode;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a language name")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<LanguageCode, E> {
            Ok(LanguageCode::from_name(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<LanguageCode, E> {
            Ok(u8::try_from(v).map_or(LanguageCode::Unknown, LanguageCode::from_byte))
        }
        fn visit_i64<E: de::Error>(self, _v: i64) -> Result<LanguageCode, E> {
            Ok(LanguageCode::Unknown)
        }
        fn visit_unit<E: de::Error>(self) -> Result<LanguageCode, E> {
            Ok(LanguageCode::Unknown)
        }
    }
    deserializer.deserialize_any(LanguageVisitor)
}

fn lenient_ext_fields<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ExtFields, D::Error> {
    struct FieldsVisitor;
    impl<'de> Visitor<'de> for FieldsVisitor {
        type Value = ExtFields;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an extFields object")
        }
        fn visit_unit<E: de::Error>(self) -> Result<ExtFields, E> {
            Ok(ExtFields::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFields, A::Error> {
            let mut fields = ExtFields::new();
            while let Some(key) = map.next_key::<String>()? {
                let LenientValue(value) = map.next_value()?;
                // A JSON null is a Java null: the field is absent.
                if let Some(value) = value {
                    fields.insert(key, value);
                }
            }
            Ok(fields)
        }
    }
    deserializer.deserialize_any(FieldsVisitor)
}

/// An extFields value: a string as is, a number in plain decimal, a boolean as
/// `true`/`false`, null as absent. Objects and arrays are errors.
struct LenientValue(Option<String>);

impl<'de> Deserialize<'de> for LenientValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = LenientValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an extFields value that is a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientValue, E> {
                // Display never uses an exponent, which keeps Java's parsers happy.
                let text = v.to_string();
                if text.len() > MAX_STRINGIFIED_BYTES {
                    return Err(E::custom("extFields number too long"));
                }
                Ok(LenientValue(Some(text)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientValue, E> {
                Ok(LenientValue(None))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}
