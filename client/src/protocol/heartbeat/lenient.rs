//! Deserializers for scalars that clients send in more than one JSON form. Each maps `null`
//! to Java's default for the type and refuses only what no reading could make sense of.
//!
//! Shared by the heartbeat and admin bodies, whose writers differ in the same ways.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A string; numbers and booleans as their text (fastjson coerces them), null as "".
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer.deserialize_any(StringVisitor)
}

/// A long from a number or a decimal string; null as 0.
pub fn long<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(LongVisitor)
}

/// An int, read as a long and then range-checked.
pub fn int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let value = long(deserializer)?;
    i32::try_from(value)
        .map_err(|_| de::Error::custom(format!("{value} does not fit a 32-bit int")))
}

/// A boolean from `true`/`false`, `1`/`0` (number or string); null as false. Other text
/// is false, as Java's `Boolean.parseBoolean` has it.
pub fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(BoolVisitor)
}

/// A double from a number or a decimal string; null as 0.
pub fn double<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(DoubleVisitor)
}

/// A collection element read with [`string`].
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string(deserializer).map(Text)
    }
}

/// A collection element read with [`int`].
pub struct Int(pub i32);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        int(deserializer).map(Int)
    }
}

/// A collection element read with [`long`].
pub struct Long(pub i64);

impl<'de> Deserialize<'de> for Long {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        long(deserializer).map(Long)
    }
}

/// A JSON array of at most `max` elements (null as empty), refused at the first element
/// past the limit.
pub fn bounded_seq<'de, D, T, C>(
    deserializer: D,
    max: usize,
    what: &'static str,
) -> Result<C, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
    C: Default + Extend<T>,
{
    deserializer.deserialize_any(BoundedSeqVisitor {
        max,
        what,
        marker: PhantomData,
    })
}

/// A JSON object of at most `max` members (null as empty), its entries collected in
/// order; refused at the first member past the limit.
pub fn bounded_map<'de, D, K, V, C>(
    deserializer: D,
    max: usize,
    what: &'static str,
) -> Result<C, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de>,
    V: Deserialize<'de>,
    C: Default + Extend<(K, V)>,
{
    deserializer.deserialize_any(BoundedMapVisitor {
        max,
        what,
        marker: PhantomData,
    })
}

/// Names the element types the visitor produces without owning any.
type MapMarker<K, V, C> = PhantomData<fn() -> (K, V, C)>;

struct BoundedMapVisitor<K, V, C> {
    max: usize,
    what: &'static str,
    marker: MapMarker<K, V, C>,
}

impl<'de, K, V, C> Visitor<'de> for BoundedMapVisitor<K, V, C>
where
    K: Deserialize<'de>,
    V: Deserialize<'de>,
    C: Default + Extend<(K, V)>,
{
    type Value = C;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} as an object of at most {} members",
            self.what, self.max
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<C, E> {
        Ok(C::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<C, A::Error> {
        let mut collection = C::default();
        let mut count = 0usize;
        while let Some(entry) = map.next_entry::<K, V>()? {
            count += 1;
            if count > self.max {
                return Err(de::Error::custom(format!(
                    "{} holds more than {} entries",
                    self.what, self.max
                )));
            }
            collection.extend(Some(entry));
        }
        Ok(collection)
    }
}

struct BoundedSeqVisitor<T, C> {
    max: usize,
    what: &'static str,
    marker: PhantomData<fn() -> (T, C)>,
}

impl<'de, T: Deserialize<'de>, C: Default + Extend<T>> Visitor<'de> for BoundedSeqVisitor<T, C> {
    type Value = C;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} as an array of at most {}",
            self.what, self.max
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<C, E> {
        Ok(C::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<C, A::Error> {
        let mut collection = C::default();
        let mut count = 0usize;
        while let Some(element) = seq.next_element::<T>()? {
            count += 1;
            if count > self.max {
                return Err(de::Error::custom(format!(
                    "{} holds more than {} entries",
                    self.what, self.max
                )));
            }
            collection.extend(Some(element));
        }
        Ok(collection)
    }
}

struct StringVisitor;

impl Visitor<'_> for StringVisitor {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }
    fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
        Ok(value)
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

struct LongVisitor;

impl Visitor<'_> for LongVisitor {
    type Value = i64;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a 64-bit integer, as a number or a string")
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::custom(format!("{value} does not fit a long")))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
        // `1.7E12` from a writer that prints longs as doubles; fractions are refused.
        let in_range = value.fract() == 0.0 && value.abs() < 9.2e18;
        if !in_range {
            return Err(E::custom(format!("{value} is not a long")));
        }
        // In range and integral, so the cast is exact.
        Ok(value as i64)
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<i64, E> {
        value
            .trim()
            .parse()
            .map_err(|_| E::custom(format!("{value:?} is not a long")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
        Ok(0)
    }
}

struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a boolean, as true/false, 1/0 or a string")
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
        Ok(value == 1)
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
        Ok(value == 1)
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
        let value = value.trim();
        Ok(value.eq_ignore_ascii_case("true") || value == "1")
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

struct DoubleVisitor;

impl Visitor<'_> for DoubleVisitor {
    type Value = f64;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a number, or a string holding one")
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
        Ok(value)
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
        Ok(value as f64)
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
        Ok(value as f64)
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
        value
            .trim()
            .parse()
            .map_err(|_| E::custom(format!("{value:?} is not a number")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(0.0)
    }
}
