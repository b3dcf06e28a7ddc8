//! What the centre console reads besides cases and administration: who is
//! logged in, the grid tree with its boundaries, the dashboard's figures,
//! and the settling of a conflict. One definition for the server and its
//! clients; the console (TypeScript) mirrors them in `server/console/src/api.ts`.

use gridwork_domain::{Kind, RecordId, Value};
use serde::{Deserialize, Serialize};

use crate::admin::UserInfo;

/// `GET /api/v1/me`: the account behind the session and what it may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user: UserInfo,
    /// Sees every grid (admins, and staff assigned no part of the tree).
    pub citywide: bool,
    /// The grids it sees, when not city-wide (assigned ones and below).
    pub grids: Vec<String>,
    /// The console map's background tile server, if the city has one.
    pub map_tiles: Option<String>,
}

/// `GET /api/v1/grids`: one grid of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GridInfo {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    pub level: String,
    /// The boundary as the grid record holds it (GeoJSON text, WGS-84).
    pub boundary: Option<String>,
}

/// `PUT /api/v1/admin/grids/{code}`: renames, moves or re-draws a grid;
/// what is left out stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GridChange {
    #[serde(default)]
    pub name: Option<String>,
    /// The grid it moves under (not itself nor one below it).
    #[serde(default)]
    pub parent: Option<String>,
    /// GeoJSON (a Polygon or MultiPolygon, or a Feature holding one) in
    /// WGS-84; empty to remove the boundary.
    #[serde(default)]
    pub boundary: Option<String>,
}

/// `POST /api/v1/admin/conflicts/settle`: the value the centre keeps for
/// a field in conflict (one of the versions, or a correction). It is
/// written as the server's, having seen every version, so it replaces
/// them all on every device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettleConflict {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    pub kind: Kind,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::FieldValue))]
    pub value: Value,
}

/// The answer to a settle: the field as it now is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settled {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    pub kind: Kind,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::FieldValue))]
    pub value: Value,
}

/// `GET /api/v1/stats?since_ms=`: the dashboard's figures over the cases
/// the caller may see.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseStats {
    pub total: u64,
    /// Still open (reported, accepted, dispatched, returned).
    pub open: u64,
    pub overdue: u64,
    pub due_soon: u64,
    /// Closed or visited.
    pub closed: u64,
    /// Of the closed, closed by their deadline.
    pub closed_on_time: u64,
    /// Of the closed, handled within the grid (小事不出格).
    pub handled_in_grid: u64,
    /// Average hours from receipt to handled, over the handled.
    pub hours_to_handle: Option<f64>,
    /// Average hours from handled to closed, over the closed.
    pub hours_to_close: Option<f64>,
    pub by_status: Vec<Tally>,
    pub by_category: Vec<Tally>,
    pub by_department: Vec<Tally>,
    /// Per grid, with its rates: the red and black lists (红黑榜) rank these.
    pub by_grid: Vec<Tally>,
    /// Per reporting worker: cases reported and closed within the grid.
    pub by_worker: Vec<Tally>,
}

/// One row of a breakdown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tally {
    /// The status, category, department or grid code, or the worker's
    /// user id.
    pub key: String,
    /// A grid's or worker's name, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub total: u64,
    pub open: u64,
    pub overdue: u64,
    pub closed: u64,
    pub closed_on_time: u64,
    pub handled_in_grid: u64,
}
