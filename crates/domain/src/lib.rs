//! Gridwork's domain: what a grid, a building, a household, a resident, a
//! patrol log, a visit, a case and a task are, which fields they have, and
//! what makes a value valid.
//!
//! This crate does no IO and reads no clock. It does not know how records are
//! stored (the store crate), merged (the merge crate) or sent (the protocol
//! crate); those crates depend on it, never the other way.

pub mod error;
pub mod formats;
mod ids;
pub mod kinds;
mod schema;
mod value;

pub use error::{Reason, ValidationError};
pub use ids::{DeviceId, GridCode, RecordId};
pub use kinds::{check_not_in_future, latest_date};
pub use schema::{Choice, FieldDef, FieldType, Kind, KindDef, Label, Record, RecordCheck};
pub use value::{MAX_LIST_ITEMS, Value};

/// Applies an edit (field name → new value) to a record: every field is
/// checked and normalised, then the whole record. Returns the indices of the
/// fields whose value changed. On error the record is left untouched.
pub fn apply_edit<'a>(
    record: &mut Record,
    changes: impl IntoIterator<Item = (&'a str, Value)>,
) -> Result<Vec<usize>, ValidationError> {
    let def = record.kind.def();
    let mut next = record.values.clone();
    let mut changed = Vec::new();
    for (name, value) in changes {
        let (index, value) = def.check_field(name, value)?;
        if next[index] != value {
            next[index] = value;
            if !changed.contains(&index) {
                changed.push(index);
            }
        }
    }
    def.check_record(&next)?;
    changed.retain(|&i| next[i] != record.values[i]);
    changed.sort_unstable();
    record.values = next;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident() -> Record {
        Record::empty(RecordId::from_parts(1, [7; 10]), Kind::Resident)
    }

    #[test]
    fn a_valid_resident_is_accepted_and_normalised() {
        let mut r = resident();
        let changed = apply_edit(
            &mut r,
            [
                ("grid", Value::from("330702001001")),
                ("name", "张秀英".into()),
                ("id_number", "11010519491231002x".into()),
                ("phone", "138 1234 5678".into()),
                ("sex", "female".into()),
                ("birth_date", "1949-12-31".into()),
            ],
        )
        .unwrap();
        assert_eq!(changed.len(), 6);
        assert_eq!(r.get("id_number"), Some(&Value::from("11010519491231002X")));
        assert_eq!(r.get("phone"), Some(&Value::from("13812345678")));
    }

    #[test]
    fn bad_input_names_the_field_and_changes_nothing() {
        let mut r = resident();
        let before = r.clone();
        type Case = (Vec<(&'static str, Value)>, &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (
                vec![("grid", "g1".into()), ("name", "李".into()), ("nickname", "x".into())],
                "nickname",
                "unknown_field",
            ),
            (vec![("grid", "g1".into()), ("name", Value::Int(3))], "name", "wrong_type"),
            (
                vec![
                    ("grid", "g1".into()),
                    ("name", "李".into()),
                    ("id_number", "110105194912310021".into()),
                ],
                "id_number",
                "invalid",
            ),
            (vec![("name", "李".into())], "grid", "required"),
            (vec![("grid", "g1".into())], "name", "required"),
            (
                vec![
                    ("grid", "g1".into()),
                    ("name", "李".into()),
                    ("id_number", "11010519491231002X".into()),
                    ("sex", "male".into()),
                ],
                "sex",
                "invalid",
            ),
            (vec![("grid", "g1".into()), ("name", "李\n四".into())], "name", "invalid"),
            (vec![("grid", "g1".into()), ("name", "李\u{202E}四".into())], "name", "invalid"),
            (
                vec![("grid", "g1".into()), ("name", "李四".into()), ("notes", "a\u{0}b".into())],
                "notes",
                "invalid",
            ),
        ];
        for (changes, field, code) in cases {
            let err = apply_edit(&mut r, changes).unwrap_err();
            assert_eq!(err.field(), Some(field), "{err}");
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(field), "{err}");
            assert!(err.zh().contains(field), "{}", err.zh());
            assert_eq!(r, before);
        }
    }

    #[test]
    fn paragraphs_may_break_lines_and_names_may_not() {
        let mut r = resident();
        let lines = "第一行\n第二行\t缩进";
        apply_edit(&mut r, [("grid", Value::from("g1")), ("name", "李四".into()), ("notes", lines.into())])
            .unwrap();
        assert_eq!(r.get("notes"), Some(&Value::from(lines)));
        let err = apply_edit(&mut r, [("name", Value::from("李\t四"))]).unwrap_err();
        assert!(err.to_string().contains("U+0009"), "{err}");
        assert!(err.zh().contains("不可见字符"), "{}", err.zh());
    }

    #[test]
    fn a_visit_needs_a_household_or_a_resident() {
        let mut v = Record::empty(RecordId::from_parts(1, [1; 10]), Kind::Visit);
        let err = apply_edit(
            &mut v,
            [
                ("grid", "g1".into()),
                ("visited_at", "2024-05-01T09:00:00+08:00".into()),
                ("purpose", "care".into()),
            ],
        )
        .unwrap_err();
        assert_eq!(err, ValidationError::required("household"));
    }

    #[test]
    fn unchanged_values_are_not_reported_as_changes() {
        let mut r = resident();
        apply_edit(&mut r, [("grid", "g1".into()), ("name", "王".into())]).unwrap();
        let changed = apply_edit(&mut r, [("name", "王".into()), ("room", "301".into())]).unwrap();
        assert_eq!(changed, vec![Kind::Resident.def().index_of("room").unwrap()]);
    }
}
