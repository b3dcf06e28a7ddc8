//! The codes the server answers with, as enums: the error code of every
//! error answer ([`ErrorCode`]) and the reason a pushed record was refused
//! ([`RefusalCode`]). Programs match on these, never on the text.
//!
//! On the wire a code is its name as a string, in JSON and in postcard
//! alike (so adding a code changes no other code's bytes), and a code this
//! program does not know yet (from a newer server) is kept as
//! `Other(name)` rather than failing the whole answer.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! wire_codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A code this program does not know (a newer server's).
            Other(String),
        }

        impl $name {
            /// Every code this program knows.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The code as it travels: `snake_case`.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }

            /// The code named `text`, `Other` if this program does not know it.
            pub fn parse(text: &str) -> $name {
                match text {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some("a code programs match on; a newer server may send one not listed"))
                    .enum_values(Some([$($text,)*]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                Ok($name::parse(&text))
            }
        }
    };
}

wire_codes! {
    /// The `code` of an error answer (`{"error": {"code", "message",
    /// "message_zh"}}`): what a program acts on.
    ErrorCode {
        /// No token, or one the server does not know: 401.
        Unauthorized = "unauthorized",
        /// The caller may not do this: 403.
        Forbidden = "forbidden",
        /// The device was revoked: it wipes its data. 403.
        DeviceRevoked = "device_revoked",
        /// The request could not be read: 400.
        Malformed = "malformed",
        /// The body, or the answer it would need, is too large: 413.
        TooLarge = "too_large",
        /// Something named does not exist: 404.
        NotFound = "not_found",
        /// The request clashes with what exists (a name taken): 409.
        Conflict = "conflict",
        /// Input breaks a rule; the message names the field: 422.
        Invalid = "invalid",
        /// The enrollment code is unknown, used or expired: 403.
        BadEnrollmentCode = "bad_enrollment_code",
        /// The device's database went back in time: 409, nothing applied.
        DeviceDiverged = "device_diverged",
        /// The uploader holds too many unfinished uploads: 429.
        UploadQuota = "upload_quota",
        /// The device sent its day's budget: 429 with Retry-After.
        DeviceQuota = "device_quota",
        /// Wrong user name or password: 401.
        BadLogin = "bad_login",
        /// Too many wrong codes or passwords from this address: 429.
        TooManyAttempts = "too_many_attempts",
        /// The server is at capacity for the moment: 503 with Retry-After.
        Busy = "busy",
        /// The request took longer than the server waits: 408 or 504.
        Timeout = "timeout",
        /// An upload's bytes do not hash to its name: 422, it starts over.
        DigestMismatch = "digest_mismatch",
        /// An upload chunk does not start where the server's copy ends: 409.
        OffsetMismatch = "offset_mismatch",
        /// The token is not a console session (logout): 400.
        NotASession = "not_a_session",
        /// The path exists, the method does not: 405.
        MethodNotAllowed = "method_not_allowed",
        /// The client speaks a protocol version the server does not: 400.
        ProtocolUnsupported = "protocol_unsupported",
        /// A sync request without the protocol header: 400.
        ProtocolMissing = "protocol_missing",
        /// A body in a content type the endpoint does not take: 415.
        UnsupportedMediaType = "unsupported_media_type",
        /// A body in an encoding the server does not take: 415.
        UnsupportedEncoding = "unsupported_encoding",
        /// The server failed; nothing was changed: 500.
        Internal = "internal",
        /// Made by the client, not sent: the address answered, but not as
        /// a Gridwork server.
        NotGridwork = "not_gridwork",
    }
}

wire_codes! {
    /// Why one record of a push was refused (see `docs/sync-protocol.md`,
    /// "Refusals"). The device rolls the record back, except after
    /// `ClockAhead`, where it re-stamps its versions once and sends again.
    RefusalCode {
        /// The record is not (or no longer) in the device's grids.
        OutOfScope = "out_of_scope",
        /// A value breaks a rule; `field` names it.
        Invalid = "invalid",
        /// The device may not write this (a grid, another's write, a photo
        /// it may not read).
        Forbidden = "forbidden",
        /// The device's own version is stamped over 10 minutes ahead of the
        /// server's clock.
        ClockAhead = "clock_ahead",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_travel_as_their_names_in_both_encodings_and_unknown_ones_survive() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            let binary = postcard::to_stdvec(code).unwrap();
            assert_eq!(binary, postcard::to_stdvec(code.as_str()).unwrap(), "a string in postcard too");
            assert_eq!(&postcard::from_bytes::<ErrorCode>(&binary).unwrap(), code);
        }
        for code in RefusalCode::ALL {
            let binary = postcard::to_stdvec(code).unwrap();
            assert_eq!(&postcard::from_bytes::<RefusalCode>(&binary).unwrap(), code);
        }
        let newer: ErrorCode = serde_json::from_str("\"a_code_from_2030\"").unwrap();
        assert_eq!(newer, ErrorCode::Other("a_code_from_2030".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), "\"a_code_from_2030\"");
    }

    #[test]
    fn every_code_has_its_own_name() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(ErrorCode::as_str).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(&ErrorCode::parse(code.as_str()), code);
        }
    }
}
