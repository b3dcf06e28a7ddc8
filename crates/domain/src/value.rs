//! The value of one field of one record.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field value as it travels and as the merge engine keeps it. Which shape
/// a field accepts is its [`crate::FieldType`]'s business; in JSON a value is
/// `null`, a boolean, a number, a string or an array of strings. In binary
/// formats (which cannot guess a shape) it is a tagged enum.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Tags and attachment digests: sorted, without duplicates.
    List(Vec<String>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The items of a list value.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The name of the value's shape, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Text(_) => "text",
            Value::List(_) => "list",
        }
    }

    /// Bytes of payload the value carries (text length, 8 for numbers), the
    /// figure metadata overhead is measured against.
    pub fn payload_len(&self) -> usize {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) => 8,
            Value::Text(text) => text.len(),
            Value::List(items) => items.iter().map(String::len).sum(),
        }
    }
}

/// The most items a list value may hold (tags, attachment digests). Read
/// off the wire with this bound, so a small body cannot make a huge list.
pub const MAX_LIST_ITEMS: usize = 1000;

/// A list of strings, read with [`MAX_LIST_ITEMS`] as its bound.
struct BoundedList(Vec<String>);

impl<'de> Deserialize<'de> for BoundedList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ValueVisitor).and_then(|value| match value {
            Value::List(items) => Ok(BoundedList(items)),
            _ => Err(serde::de::Error::custom("expected a list")),
        })
    }
}

/// Reads a value from its JSON shape (or a list from any format), item by
/// item, without buffering the input first.
struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "null, a boolean, a number, a string or a list of at most {MAX_LIST_ITEMS} strings")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Value, E> {
        i64::try_from(n).map(Value::Int).map_err(|_| E::custom(format!("{n} is too large")))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::Text(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Value, E> {
        Ok(Value::Text(text))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(item) = seq.next_element::<String>()? {
            if items.len() == MAX_LIST_ITEMS {
                return Err(serde::de::Error::custom(format!("a list holds at most {MAX_LIST_ITEMS} items")));
            }
            items.push(item);
        }
        Ok(Value::List(items))
    }
}

/// The binary form, read back: a variant index, then the payload.
#[derive(Deserialize)]
#[serde(rename = "Value")]
enum Tagged {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(BoundedList),
}

impl From<Tagged> for Value {
    fn from(value: Tagged) -> Value {
        match value {
            Tagged::Null => Value::Null,
            Tagged::Bool(b) => Value::Bool(b),
            Tagged::Int(n) => Value::Int(n),
            Tagged::Float(x) => Value::Float(x),
            Tagged::Text(t) => Value::Text(t),
            Tagged::List(l) => Value::List(l.0),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match self {
                Value::Null => s.serialize_unit(),
                Value::Bool(b) => s.serialize_bool(*b),
                Value::Int(n) => s.serialize_i64(*n),
                Value::Float(x) => s.serialize_f64(*x),
                Value::Text(t) => s.serialize_str(t),
                Value::List(l) => l.serialize(s),
            }
        } else {
            // Variant indices match `Tagged`.
            match self {
                Value::Null => s.serialize_unit_variant("Value", 0, "Null"),
                Value::Bool(b) => s.serialize_newtype_variant("Value", 1, "Bool", b),
                Value::Int(n) => s.serialize_newtype_variant("Value", 2, "Int", n),
                Value::Float(x) => s.serialize_newtype_variant("Value", 3, "Float", x),
                Value::Text(t) => s.serialize_newtype_variant("Value", 4, "Text", t),
                Value::List(l) => s.serialize_newtype_variant("Value", 5, "List", l),
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(ValueVisitor)
        } else {
            Tagged::deserialize(deserializer).map(Value::from)
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(text) => f.write_str(text),
            Value::List(items) => f.write_str(&items.join(",")),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_map_to_values() {
        let parsed: Vec<Value> = serde_json::from_str(r#"[null, true, 3, 2.5, "x", ["a","b"]]"#).unwrap();
        assert_eq!(
            parsed,
            vec![
                Value::Null,
                Value::Bool(true),
                Value::Int(3),
                Value::Float(2.5),
                Value::Text("x".into()),
                Value::List(vec!["a".into(), "b".into()]),
            ]
        );
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#"[null,true,3,2.5,"x",["a","b"]]"#);
    }

    #[test]
    fn lists_longer_than_the_bound_are_refused_in_both_forms() {
        let items: Vec<String> = (0..=MAX_LIST_ITEMS).map(|i| i.to_string()).collect();
        let json = serde_json::to_string(&items).unwrap();
        let error = serde_json::from_str::<Value>(&json).unwrap_err().to_string();
        assert!(error.contains("at most 1000"), "{error}");
        let binary = postcard::to_allocvec(&Value::List(items.clone())).unwrap();
        assert!(postcard::from_bytes::<Value>(&binary).is_err());
        let fits = Value::List(items[..MAX_LIST_ITEMS].to_vec());
        assert_eq!(postcard::from_bytes::<Value>(&postcard::to_allocvec(&fits).unwrap()).unwrap(), fits);
        assert_eq!(serde_json::from_str::<Value>(&serde_json::to_string(&fits).unwrap()).unwrap(), fits);
    }
}
