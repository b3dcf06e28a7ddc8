//! The shape of records: field types, field definitions and record kinds, and
//! the checks that turn untrusted input into valid values.
//!
//! A schema is static data (see [`crate::kinds`]); this module holds the
//! machinery. It knows nothing about storage: the store maps fields to
//! columns, the merge engine treats values as opaque.

use std::fmt;

use serde::Serialize;

use crate::error::{Reason, ValidationError};
use crate::formats;
use crate::ids::{GridCode, RecordId};
use crate::value::Value;

/// A text in the two languages of the product; Chinese first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub zh: &'static str,
    pub en: &'static str,
}

/// One allowed value of an enumerated field, with its labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

/// The longest text kept on one line (names, addresses, rooms); longer
/// text fields are paragraphs and may break lines.
const MAX_LINE: usize = 200;

/// Characters that reorder the text around them (bidirectional embeddings,
/// overrides and isolates): they make a name display as something else.
fn reorders(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// What a field holds. Every type accepts `null` unless the field is
/// required; emptiness is checked at the record level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldType {
    /// One line or a paragraph of text, at most `max` characters.
    Text {
        max: usize,
    },
    Int {
        min: i64,
        max: i64,
    },
    /// A decimal number, e.g. a latitude.
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 with an offset.
    DateTime,
    /// One code from the list.
    Choice {
        choices: &'static [Choice],
    },
    /// Any number of distinct codes from the list, kept sorted.
    Tags {
        choices: &'static [Choice],
    },
    /// An 18-digit resident ID-card number, checked per GB 11643.
    IdNumber,
    Phone,
    GridCode,
    /// The id of a record of the given kind.
    Ref {
        kind: Kind,
    },
    /// SHA-256 digests of attached files (case photos), kept sorted.
    Attachments,
}

impl FieldType {
    /// What the type expects, for error messages.
    fn expected(&self) -> &'static str {
        match self {
            FieldType::Int { .. } => "integer",
            FieldType::Float { .. } => "number",
            FieldType::Bool => "boolean",
            FieldType::Tags { .. } | FieldType::Attachments => "list",
            _ => "text",
        }
    }

    /// Checks a value for a field of this type and returns it normalised
    /// (phones canonical, ID numbers uppercase, tags sorted...).
    pub fn check(&self, field: &str, value: Value) -> Result<Value, ValidationError> {
        let wrong_type = |value: &Value| ValidationError::WrongType {
            field: field.to_owned(),
            expected: self.expected(),
            got: value.type_name(),
        };
        let invalid = |reason| ValidationError::invalid(field, reason);
        if value.is_null() {
            return Ok(Value::Null);
        }
        let checked = match (self, value) {
            (FieldType::Text { max }, Value::Text(text)) => {
                let text = text.trim();
                if text.chars().count() > *max {
                    return Err(invalid(Reason::TooLong { max: *max }));
                }
                // Names and lines are one line; paragraphs may break lines.
                let paragraph = *max > MAX_LINE;
                if let Some(c) = text.chars().find(|&c| {
                    let line_break = matches!(c, '\n' | '\r' | '\t');
                    (c.is_control() && !(paragraph && line_break)) || reorders(c)
                }) {
                    return Err(invalid(Reason::ControlCharacter { code_point: c as u32 }));
                }
                if text.is_empty() { Value::Null } else { Value::Text(text.to_owned()) }
            }
            (FieldType::Int { min, max }, Value::Int(n)) => {
                if n < *min || n > *max {
                    return Err(invalid(Reason::OutOfRange { min: *min, max: *max }));
                }
                Value::Int(n)
            }
            (FieldType::Float { min, max }, value @ (Value::Float(_) | Value::Int(_))) => {
                let x = match value {
                    Value::Float(x) => x,
                    Value::Int(n) => n as f64,
                    _ => unreachable!("matched above"),
                };
                if !x.is_finite() || x < *min || x > *max {
                    return Err(invalid(Reason::OutOfRange { min: *min as i64, max: *max as i64 }));
                }
                Value::Float(x)
            }
            (FieldType::Bool, Value::Bool(b)) => Value::Bool(b),
            (FieldType::Date, Value::Text(text)) => {
                let date = formats::parse_date(&text).map_err(invalid)?;
                Value::Text(date.format("%Y-%m-%d").to_string())
            }
            (FieldType::DateTime, Value::Text(text)) => {
                Value::Text(formats::parse_date_time(&text).map_err(invalid)?.1)
            }
            (FieldType::Choice { choices }, Value::Text(text)) => {
                let text = text.trim();
                if !choices.iter().any(|c| c.code == text) {
                    return Err(invalid(not_a_choice(choices)));
                }
                Value::Text(text.to_owned())
            }
            (FieldType::Tags { choices }, Value::List(items)) => {
                for item in &items {
                    if !choices.iter().any(|c| c.code == item) {
                        return Err(invalid(not_a_choice(choices)));
                    }
                }
                sorted_distinct(field, items)?
            }
            (FieldType::IdNumber, Value::Text(text)) => {
                Value::Text(formats::parse_id_number(&text).map_err(invalid)?.normalized)
            }
            (FieldType::Phone, Value::Text(text)) => {
                Value::Text(formats::normalize_phone(&text).map_err(invalid)?)
            }
            (FieldType::GridCode, Value::Text(text)) => {
                Value::Text(GridCode::parse(text.trim()).map_err(invalid)?.as_str().to_owned())
            }
            (FieldType::Ref { .. }, Value::Text(text)) => {
                Value::Text(RecordId::parse_for(field, text.trim())?.to_string())
            }
            (FieldType::Attachments, Value::List(items)) => {
                for item in &items {
                    formats::check_sha256(item).map_err(invalid)?;
                }
                sorted_distinct(field, items)?
            }
            (_, value) => return Err(wrong_type(&value)),
        };
        Ok(checked)
    }

    /// Reads a value typed by a person (`gridwork device put ... phone=...`):
    /// an empty text clears the field, numbers and booleans are parsed, lists
    /// are comma-separated.
    pub fn parse_text(&self, field: &str, text: &str) -> Result<Value, ValidationError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Value::Null);
        }
        let value = match self {
            FieldType::Int { .. } => Value::Int(text.parse().map_err(|_| ValidationError::WrongType {
                field: field.to_owned(),
                expected: "integer",
                got: "text",
            })?),
            FieldType::Float { .. } => Value::Float(text.parse().map_err(|_| {
                ValidationError::WrongType { field: field.to_owned(), expected: "number", got: "text" }
            })?),
            FieldType::Bool => match text {
                "true" | "1" | "yes" | "是" => Value::Bool(true),
                "false" | "0" | "no" | "否" => Value::Bool(false),
                _ => {
                    return Err(ValidationError::WrongType {
                        field: field.to_owned(),
                        expected: "boolean",
                        got: "text",
                    });
                }
            },
            // A choice may be typed as its label, in either language.
            FieldType::Choice { choices } => Value::Text(choice_code(choices, text).to_owned()),
            FieldType::Tags { choices } => Value::List(
                text.split([',', ',', '、'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| choice_code(choices, s).to_owned())
                    .collect(),
            ),
            FieldType::Attachments => Value::List(
                text.split([',', ',']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
            ),
            _ => Value::Text(text.to_owned()),
        };
        self.check(field, value)
    }
}

/// The code of the choice whose code or label (Chinese or English) is
/// `text`; `text` itself when none is.
fn choice_code<'a>(choices: &'a [Choice], text: &'a str) -> &'a str {
    choices
        .iter()
        .find(|c| c.code == text || c.zh == text || c.en.eq_ignore_ascii_case(text))
        .map_or(text, |c| c.code)
}

fn not_a_choice(choices: &[Choice]) -> Reason {
    Reason::NotAChoice {
        allowed: choices.iter().map(|c| c.code).collect(),
        labels_zh: choices.iter().map(|c| c.zh).collect(),
    }
}

fn sorted_distinct(field: &str, mut items: Vec<String>) -> Result<Value, ValidationError> {
    if items.len() > crate::MAX_LIST_ITEMS {
        return Err(ValidationError::invalid(field, Reason::TooManyItems { max: crate::MAX_LIST_ITEMS }));
    }
    items.sort();
    if let Some(pair) = items.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ValidationError::invalid(field, Reason::Duplicate { value: pair[0].clone() }));
    }
    Ok(Value::List(items))
}

/// One field of a record kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FieldDef {
    /// English snake_case: the name in the API, the CLI and the database.
    pub name: &'static str,
    /// A small number that identifies the field in stored metadata. Tags are
    /// never reused or renumbered.
    pub tag: u8,
    #[serde(flatten)]
    pub ty: FieldType,
    pub required: bool,
    pub label: Label,
}

/// The kinds of records Gridwork keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Grid,
    Building,
    Household,
    Resident,
    Patrol,
    Visit,
    Case,
    Task,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Grid,
        Kind::Building,
        Kind::Household,
        Kind::Resident,
        Kind::Patrol,
        Kind::Visit,
        Kind::Case,
        Kind::Task,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Grid => "grid",
            Kind::Building => "building",
            Kind::Household => "household",
            Kind::Resident => "resident",
            Kind::Patrol => "patrol",
            Kind::Visit => "visit",
            Kind::Case => "case",
            Kind::Task => "task",
        }
    }

    /// A stable number for the kind in stored data and on the wire.
    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(n: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(n)).copied()
    }

    pub fn parse(text: &str) -> Result<Kind, ValidationError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| ValidationError::UnknownKind(text.to_owned()))
    }

    pub fn def(self) -> &'static KindDef {
        crate::kinds::def(self)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cross-field check of a whole record (e.g. an ID number and a birth
/// date that disagree). Receives values aligned with [`KindDef::fields`].
pub type RecordCheck = fn(&KindDef, &[Value]) -> Result<(), ValidationError>;

/// The schema of one kind of record.
#[derive(Debug)]
pub struct KindDef {
    pub kind: Kind,
    pub label: Label,
    /// The name of the table the store materialises this kind into.
    pub table: &'static str,
    /// The field holding the grid code that scopes the record: `grid` for
    /// every kind but grids themselves, which are scoped by their own `code`.
    pub scope_field: &'static str,
    /// Fields in tag order. Every kind has `deleted` (tag 0) and its scope
    /// field (tag 1).
    pub fields: &'static [FieldDef],
    pub check: Option<RecordCheck>,
}

impl KindDef {
    pub fn field(&self, name: &str) -> Result<&'static FieldDef, ValidationError> {
        self.index_of(name).map(|i| &self.fields[i])
    }

    pub fn index_of(&self, name: &str) -> Result<usize, ValidationError> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| ValidationError::UnknownField { kind: self.kind.as_str(), field: name.to_owned() })
    }

    pub fn by_tag(&self, tag: u8) -> Option<(usize, &'static FieldDef)> {
        self.fields.iter().enumerate().find(|(_, f)| f.tag == tag)
    }

    pub fn scope_index(&self) -> usize {
        self.index_of(self.scope_field).expect("every kind has its scope field")
    }

    /// Checks a single field's value (type and format) and normalises it.
    pub fn check_field(&self, name: &str, value: Value) -> Result<(usize, Value), ValidationError> {
        let index = self.index_of(name)?;
        let field = &self.fields[index];
        Ok((index, field.ty.check(field.name, value)?))
    }

    /// Checks a whole record: required fields present, then the kind's
    /// cross-field rules. Values must already have passed [`Self::check_field`].
    pub fn check_record(&self, values: &[Value]) -> Result<(), ValidationError> {
        debug_assert_eq!(values.len(), self.fields.len());
        for (field, value) in self.fields.iter().zip(values) {
            if field.required && value.is_null() {
                return Err(ValidationError::required(field.name));
            }
        }
        match self.check {
            Some(check) => check(self, values),
            None => Ok(()),
        }
    }
}

/// A record's current values, aligned with its kind's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub id: RecordId,
    pub kind: Kind,
    pub values: Vec<Value>,
}

impl Record {
    pub fn empty(id: RecordId, kind: Kind) -> Self {
        Record { id, kind, values: vec![Value::Null; kind.def().fields.len()] }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.kind.def().index_of(field).ok().map(|i| &self.values[i])
    }

    pub fn is_deleted(&self) -> bool {
        self.values[0] == Value::Bool(true)
    }

    /// The grid code that scopes the record, if set.
    pub fn scope(&self) -> Option<&str> {
        self.values[self.kind.def().scope_index()].as_text()
    }

    /// The record as a JSON object: `{"id": ..., field: value, ...}`, with
    /// null fields left out.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), self.id.to_string().into());
        object.insert("kind".into(), self.kind.as_str().into());
        for (field, value) in self.kind.def().fields.iter().zip(&self.values) {
            if !value.is_null() {
                object.insert(field.name.into(), serde_json::to_value(value).expect("values serialise"));
            }
        }
        serde_json::Value::Object(object)
    }
}

#[cfg(test)]
mod list_limits {
    use super::*;

    #[test]
    fn a_list_longer_than_travels_is_refused_naming_the_field() {
        let digests: Vec<String> = (0..=crate::MAX_LIST_ITEMS).map(|i| format!("{i:064x}")).collect();
        let error = FieldType::Attachments.check("attachments", Value::List(digests.clone())).unwrap_err();
        assert_eq!(error.field(), Some("attachments"));
        assert!(error.zh().contains("1000"), "{}", error.zh());
        let fits = Value::List(digests[..crate::MAX_LIST_ITEMS].to_vec());
        assert!(FieldType::Attachments.check("attachments", fits).is_ok());
    }
}
