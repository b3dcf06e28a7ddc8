//! OpenAPI schemas (utoipa) of the types this crate borrows from
//! gridwork-domain and gridwork-merge, which know nothing of OpenAPI: a
//! record's kind, id, field value and register, a writer's number and a
//! clock reading, as each travels in JSON. Built only with the `openapi`
//! feature, which the server turns on; the app, the client and the CLI
//! never compile utoipa.
//!
//! The wire types name these with `#[schema(value_type = …)]`; the codes'
//! schemas (every known `snake_case` name) are in `codes.rs`.

use std::borrow::Cow;

use gridwork_domain::Kind;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

fn text(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description))
}

/// A record kind's name: `resident`, `case`, …
#[derive(Debug)]
pub struct KindName;

impl PartialSchema for KindName {
    fn schema() -> RefOr<Schema> {
        text("a record kind").enum_values(Some(Kind::ALL.iter().map(|k| k.as_str()))).into()
    }
}

impl ToSchema for KindName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Kind")
    }
}

/// A record's id: a UUIDv7.
#[derive(Debug)]
pub struct RecordIdText;

impl PartialSchema for RecordIdText {
    fn schema() -> RefOr<Schema> {
        text("a record's id, a UUIDv7").format(Some(SchemaFormat::Custom("uuid".into()))).into()
    }
}

impl ToSchema for RecordIdText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RecordId")
    }
}

/// A field's value in JSON: null, a boolean, a number, text or a list of
/// text.
#[derive(Debug)]
pub struct FieldValue;

impl PartialSchema for FieldValue {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some("a field's value: null, a boolean, a number, text or a list of text"))
            .into()
    }
}

impl ToSchema for FieldValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Value")
    }
}

/// A hybrid logical clock reading: a `u64` as decimal text.
#[derive(Debug)]
pub struct HlcText;

impl PartialSchema for HlcText {
    fn schema() -> RefOr<Schema> {
        text("a hybrid logical clock reading: 48 bits of Unix ms and a 16-bit counter, one u64 as decimal text")
            .examples(["119101012345678"])
            .into()
    }
}

impl ToSchema for HlcText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Hlc")
    }
}

/// A field's register: its version vector and the versions nobody has
/// knowingly overwritten.
#[derive(Debug)]
pub struct RegisterShape;

impl PartialSchema for RegisterShape {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "a field's register: {\"context\": [[device, counter], …], \"versions\": [{\"value\", \"writer\", \"counter\", \"hlc\"}, …]} (docs/sync-protocol.md)",
            ))
            .into()
    }
}

impl ToSchema for RegisterShape {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Register")
    }
}
