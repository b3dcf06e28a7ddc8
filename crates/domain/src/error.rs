//! Validation errors: every error names the field that is wrong and says why,
//! in English (`Display`) and in Chinese ([`ValidationError::zh`]).

use std::fmt;

use serde::Serialize;

/// Why a record or a change was refused. Each variant names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("unknown record kind `{0}`")]
    UnknownKind(String),
    #[error("{kind} has no field `{field}`")]
    UnknownField { kind: &'static str, field: String },
    #[error("field `{field}`: expected {expected}, got {got}")]
    WrongType { field: String, expected: &'static str, got: &'static str },
    #[error("field `{field}` is required")]
    Required { field: String },
    #[error("field `{field}`: {reason}")]
    Invalid { field: String, reason: Reason },
}

impl ValidationError {
    pub fn invalid(field: &str, reason: Reason) -> Self {
        ValidationError::Invalid { field: field.to_owned(), reason }
    }

    pub fn required(field: &str) -> Self {
        ValidationError::Required { field: field.to_owned() }
    }

    /// The field the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ValidationError::UnknownKind(_) => None,
            ValidationError::UnknownField { field, .. }
            | ValidationError::WrongType { field, .. }
            | ValidationError::Required { field }
            | ValidationError::Invalid { field, .. } => Some(field),
        }
    }

    /// A short stable code for programs (`unknown_field`, `invalid`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::UnknownKind(_) => "unknown_kind",
            ValidationError::UnknownField { .. } => "unknown_field",
            ValidationError::WrongType { .. } => "wrong_type",
            ValidationError::Required { .. } => "required",
            ValidationError::Invalid { .. } => "invalid",
        }
    }

    /// The message in Chinese, for the worker's screen.
    pub fn zh(&self) -> String {
        match self {
            ValidationError::UnknownKind(kind) => format!("未知的记录类型“{kind}”"),
            ValidationError::UnknownField { kind, field } => {
                format!("{kind} 没有字段“{field}”")
            }
            ValidationError::WrongType { field, expected, got } => {
                format!("字段“{field}”:应为{},实为{}", type_zh(expected), type_zh(got))
            }
            ValidationError::Required { field } => format!("字段“{field}”为必填项"),
            ValidationError::Invalid { field, reason } => format!("字段“{field}”:{}", reason.zh()),
        }
    }
}

fn type_zh(name: &str) -> &'static str {
    match name {
        "text" => "文本",
        "integer" => "整数",
        "number" => "数字",
        "boolean" => "是/否",
        "list" => "列表",
        "null" => "空值",
        _ => "其他类型",
    }
}

/// What exactly is wrong with a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// An ID-card number is not 17 digits followed by a digit or `X`.
    IdNumberFormat,
    /// The region code (first two digits) names no province.
    IdNumberRegion,
    /// Digits 7 to 14 are not a real date.
    IdNumberBirthDate,
    /// The GB 11643 check character does not match.
    IdNumberChecksum {
        expected: char,
        found: char,
    },
    Phone,
    Date,
    DateTime,
    GridCode,
    RecordId,
    Sha256,
    Empty,
    TooLong {
        max: usize,
    },
    /// A list (tags, photos) holds more items than travel in one value.
    TooManyItems {
        max: usize,
    },
    OutOfRange {
        min: i64,
        max: i64,
    },
    NotAChoice {
        allowed: Vec<&'static str>,
        /// The same choices as the worker sees them.
        labels_zh: Vec<&'static str>,
    },
    Duplicate {
        value: String,
    },
    /// The value disagrees with another field of the same record.
    Disagrees {
        other: &'static str,
    },
    /// A record cannot point at itself (a grid whose parent is itself).
    SelfReference,
    /// A grid's boundary is not a GeoJSON Polygon or MultiPolygon (or a
    /// Feature holding one) in WGS-84 degrees.
    NotABoundary,
    /// No grid has this code (or it was deleted).
    NoSuchGrid {
        code: String,
    },
    /// No record of this kind has this id (or it was deleted).
    NoSuchRecord {
        kind: &'static str,
        id: String,
    },
    /// A value received from another replica is valid but not written the
    /// way every replica writes it (e.g. a phone with spaces).
    NotCanonical {
        expected: String,
    },
    /// A change received without the timestamp every write carries.
    NoTimestamp,
    /// Text with a control character (a line break in a one-line field) or
    /// a character that reorders the text around it (U+202E and kin).
    ControlCharacter {
        code_point: u32,
    },
    /// A date that has not come yet anywhere on Earth (a birth date, or the
    /// one inside an ID-card number).
    InTheFuture {
        latest: String,
    },
    /// A list's `after` that is not a `next` the list gave.
    Cursor,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::IdNumberFormat => {
                f.write_str("an ID-card number is 17 digits followed by a digit or X")
            }
            Reason::IdNumberRegion => f.write_str("the ID-card number's region code is not a province"),
            Reason::IdNumberBirthDate => {
                f.write_str("the ID-card number's birth date (digits 7 to 14) is not a date")
            }
            Reason::IdNumberChecksum { expected, found } => write!(
                f,
                "the ID-card number's check character is {found}, its digits give {expected} (GB 11643)"
            ),
            Reason::Phone => f.write_str(
                "not a phone number: a mobile is 11 digits starting with 1, a landline is an area code and a number such as 0571-88001234",
            ),
            Reason::Date => f.write_str("not a date in the form YYYY-MM-DD"),
            Reason::DateTime => {
                f.write_str("not a date and time in the form 2024-05-01T08:30:00+08:00")
            }
            Reason::GridCode => f.write_str(
                "not a grid code: 1 to 32 letters, digits or '-', starting with a letter or digit",
            ),
            Reason::RecordId => f.write_str("not a record id (a UUIDv7)"),
            Reason::Sha256 => f.write_str("not a SHA-256 digest (64 lowercase hex digits)"),
            Reason::Empty => f.write_str("must not be empty"),
            Reason::TooLong { max } => write!(f, "longer than {max} characters"),
            Reason::TooManyItems { max } => write!(f, "more than {max} items"),
            Reason::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            Reason::NotAChoice { allowed, .. } => write!(f, "must be one of {}", allowed.join(", ")),
            Reason::Duplicate { value } => write!(f, "`{value}` appears twice"),
            Reason::Disagrees { other } => write!(f, "disagrees with field `{other}`"),
            Reason::SelfReference => f.write_str("a record cannot refer to itself"),
            Reason::NotABoundary => f.write_str(
                "not a boundary: a GeoJSON Polygon or MultiPolygon (or a Feature holding one), closed rings of [longitude, latitude] in WGS-84 degrees",
            ),
            Reason::ControlCharacter { code_point } => write!(
                f,
                "contains the invisible character U+{code_point:04X}; line breaks belong only in paragraphs"
            ),
            Reason::NoSuchGrid { code } => write!(f, "there is no grid with code `{code}`"),
            Reason::NoSuchRecord { kind, id } => write!(f, "there is no {kind} with id {id}"),
            Reason::NotCanonical { expected } => write!(f, "not in canonical form, which is `{expected}`"),
            Reason::NoTimestamp => f.write_str("a version without a timestamp (HLC 0)"),
            Reason::InTheFuture { latest } => {
                write!(f, "the date is in the future (today is {latest} at the latest)")
            }
            Reason::Cursor => f.write_str("not a cursor this list gave: pass the `next` of the page before"),
        }
    }
}

impl Reason {
    pub fn zh(&self) -> String {
        match self {
            Reason::IdNumberFormat => "身份证号应为17位数字加1位数字或X".into(),
            Reason::IdNumberRegion => "身份证号的地区码不是有效的省份".into(),
            Reason::IdNumberBirthDate => "身份证号中的出生日期(第7至14位)无效".into(),
            Reason::IdNumberChecksum { expected, found } => {
                format!("身份证号校验位为{found},按GB 11643应为{expected}")
            }
            Reason::Phone => "电话号码无效:手机号为1开头的11位数字,座机如0571-88001234".into(),
            Reason::Date => "日期格式应为 YYYY-MM-DD".into(),
            Reason::DateTime => "时间格式应为 2024-05-01T08:30:00+08:00".into(),
            Reason::GridCode => "网格编码应为1至32位字母、数字或“-”,以字母或数字开头".into(),
            Reason::RecordId => "不是有效的记录编号(UUIDv7)".into(),
            Reason::Sha256 => "不是有效的SHA-256摘要(64位小写十六进制)".into(),
            Reason::Empty => "不能为空".into(),
            Reason::TooLong { max } => format!("不能超过{max}个字符"),
            Reason::TooManyItems { max } => format!("不能超过{max}项"),
            Reason::OutOfRange { min, max } => format!("应在{min}到{max}之间"),
            Reason::NotAChoice { allowed, labels_zh } => {
                let pairs: Vec<String> =
                    allowed.iter().zip(labels_zh).map(|(code, zh)| format!("{zh}({code})")).collect();
                format!("应为以下之一:{}", pairs.join("、"))
            }
            Reason::Duplicate { value } => format!("“{value}”重复出现"),
            Reason::Disagrees { other } => format!("与字段“{other}”不一致"),
            Reason::SelfReference => "记录不能引用自身".into(),
            Reason::NotABoundary => {
                "不是有效的边界:应为 GeoJSON 的 Polygon 或 MultiPolygon(或包含它的 Feature),WGS-84 经纬度的闭合环".into()
            }
            Reason::ControlCharacter { code_point } => {
                format!("含有不可见字符U+{code_point:04X};只有段落文字可以换行")
            }
            Reason::NoSuchGrid { code } => format!("不存在编码为“{code}”的网格"),
            Reason::NoSuchRecord { kind, id } => format!("不存在编号为{id}的{kind}记录"),
            Reason::NotCanonical { expected } => format!("格式不规范,规范写法为“{expected}”"),
            Reason::NoTimestamp => "修改缺少时间戳".into(),
            Reason::InTheFuture { latest } => format!("日期在未来(今天最晚为{latest})"),
            Reason::Cursor => "不是本列表给出的翻页位置,请使用上一页返回的 next".into(),
        }
    }
}
