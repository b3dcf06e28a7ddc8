//! The record kinds as user interfaces build forms and tables from them
//! (the tablet app's `schema` command, the server's `GET /api/v1/schema`):
//! each field's name, labels in both languages, type, limits and choices,
//! read from gridwork-domain's definitions, never restated.

use gridwork_domain::{Choice, FieldDef, FieldType, Kind, Label};
use serde::Serialize;

/// A field as the UI builds forms from it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldInfo {
    name: &'static str,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    label: Label,
    required: bool,
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    choices: Option<&'static [Choice]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::KindName>))]
    ref_kind: Option<Kind>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KindInfo {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    kind: Kind,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    label: Label,
    fields: Vec<FieldInfo>,
}

fn field_info(field: &FieldDef) -> FieldInfo {
    let mut info = FieldInfo {
        name: field.name,
        label: field.label,
        required: field.required,
        ty: "text",
        min: None,
        max: None,
        choices: None,
        ref_kind: None,
    };
    match field.ty {
        FieldType::Text { max } => info.max = Some(max as f64),
        FieldType::Int { min, max } => {
            (info.ty, info.min, info.max) = ("int", Some(min as f64), Some(max as f64))
        }
        FieldType::Float { min, max } => (info.ty, info.min, info.max) = ("float", Some(min), Some(max)),
        FieldType::Bool => info.ty = "bool",
        FieldType::Date => info.ty = "date",
        FieldType::DateTime => info.ty = "datetime",
        FieldType::Choice { choices } => (info.ty, info.choices) = ("choice", Some(choices)),
        FieldType::Tags { choices } => (info.ty, info.choices) = ("tags", Some(choices)),
        FieldType::IdNumber => info.ty = "id_number",
        FieldType::Phone => info.ty = "phone",
        FieldType::GridCode => info.ty = "grid",
        FieldType::Ref { kind } => (info.ty, info.ref_kind) = ("ref", Some(kind)),
        FieldType::Attachments => info.ty = "attachments",
    }
    info
}

/// Every kind with its fields but `deleted`.
pub fn kinds() -> Vec<KindInfo> {
    Kind::ALL
        .iter()
        .map(|kind| {
            let def = kind.def();
            KindInfo {
                kind: *kind,
                label: def.label,
                fields: def.fields.iter().filter(|f| f.name != "deleted").map(field_info).collect(),
            }
        })
        .collect()
}
