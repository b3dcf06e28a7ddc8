//! The dashboard's figures (`GET /api/v1/stats`): folds the counted rows
//! the backend gives ([`CaseTallyRow`], [`ReporterTallyRow`]) into totals,
//! rates and breakdowns. No storage and no scope: the caller passes only
//! the rows its user may see.

use std::collections::BTreeMap;

use gridwork_protocol::console::{CaseStats, Tally};

use crate::backend::{CaseTallyRow, ReporterTallyRow};
use crate::cases::Status;

/// Whether cases in `status` are finished (closed, or closed and visited).
fn finished(status: &str) -> bool {
    matches!(Status::parse(status), Some(Status::Closed | Status::Visited))
}

fn open(status: &str) -> bool {
    Status::parse(status).is_some_and(Status::is_open)
}

fn add(tally: &mut Tally, row: &CaseTallyRow) {
    tally.total += row.total;
    tally.overdue += row.overdue;
    if open(&row.status) {
        tally.open += row.total;
    }
    if finished(&row.status) {
        tally.closed += row.total;
        tally.closed_on_time += row.closed_on_time;
        tally.handled_in_grid += row.handled_in_grid;
    }
}

/// Breakdowns sorted by total, largest first, then by key.
fn sorted(map: BTreeMap<String, Tally>) -> Vec<Tally> {
    let mut list: Vec<Tally> = map.into_values().collect();
    list.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
    list
}

fn average_hours(sum_ms: u64, count: u64) -> Option<f64> {
    (count > 0).then(|| (sum_ms as f64 / count as f64 / 3_600_000.0 * 10.0).round() / 10.0)
}

/// The figures of `rows` and `reporters`; `grid_name` names a grid code.
pub fn fold(
    rows: &[CaseTallyRow],
    reporters: &[ReporterTallyRow],
    grid_name: impl Fn(&str) -> Option<String>,
) -> CaseStats {
    let mut stats = CaseStats::default();
    let (mut by_status, mut by_category, mut by_department, mut by_grid) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let (mut handle_ms, mut handled, mut close_ms, mut closed_after) = (0u64, 0u64, 0u64, 0u64);
    for row in rows {
        stats.total += row.total;
        stats.overdue += row.overdue;
        stats.due_soon += row.due_soon;
        if open(&row.status) {
            stats.open += row.total;
        }
        if finished(&row.status) {
            stats.closed += row.total;
            stats.closed_on_time += row.closed_on_time;
            stats.handled_in_grid += row.handled_in_grid;
        }
        handle_ms += row.handle_ms;
        handled += row.handled;
        close_ms += row.close_ms;
        closed_after += row.closed_after_handling;
        let key = |k: &str| Tally { key: k.to_owned(), ..Tally::default() };
        add(by_status.entry(row.status.clone()).or_insert_with(|| key(&row.status)), row);
        add(by_category.entry(row.category.clone()).or_insert_with(|| key(&row.category)), row);
        if let Some(department) = &row.department {
            add(by_department.entry(department.clone()).or_insert_with(|| key(department)), row);
        }
        let grid = by_grid
            .entry(row.grid.clone())
            .or_insert_with(|| Tally { name: grid_name(&row.grid), ..key(&row.grid) });
        add(grid, row);
    }
    stats.hours_to_handle = average_hours(handle_ms, handled);
    stats.hours_to_close = average_hours(close_ms, closed_after);
    let mut by_worker: BTreeMap<String, Tally> = BTreeMap::new();
    for reporter in reporters {
        let worker = by_worker.entry(reporter.user_id.clone()).or_insert_with(|| Tally {
            key: reporter.user_id.clone(),
            name: Some(reporter.user_name.clone()),
            ..Tally::default()
        });
        worker.total += reporter.total;
        worker.closed += reporter.closed;
        worker.handled_in_grid += reporter.handled_in_grid;
    }
    stats.by_status = sorted(by_status);
    stats.by_category = sorted(by_category);
    stats.by_department = sorted(by_department);
    stats.by_grid = sorted(by_grid);
    stats.by_worker = sorted(by_worker);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(grid: &str, status: &str, total: u64) -> CaseTallyRow {
        CaseTallyRow {
            grid: grid.into(),
            category: "sanitation".into(),
            status: status.into(),
            total,
            ..CaseTallyRow::default()
        }
    }

    #[test]
    fn rates_count_closed_and_visited_cases_and_open_ones_apart() {
        let rows = [
            CaseTallyRow { closed_on_time: 2, handled_in_grid: 1, ..row("A", "closed", 3) },
            CaseTallyRow { closed_on_time: 1, ..row("A", "visited", 1) },
            CaseTallyRow { overdue: 2, department: Some("cg".into()), ..row("B", "dispatched", 5) },
            row("B", "rejected", 1),
            CaseTallyRow { handled: 2, handle_ms: 2 * 3_600_000 * 5, ..row("B", "handled", 2) },
        ];
        let stats = fold(&rows, &[], |code| Some(format!("grid {code}")));
        assert_eq!((stats.total, stats.open, stats.closed), (12, 5, 4));
        assert_eq!((stats.closed_on_time, stats.handled_in_grid, stats.overdue), (3, 1, 2));
        assert_eq!(stats.hours_to_handle, Some(5.0));
        assert_eq!(stats.hours_to_close, None);
        assert_eq!(stats.by_grid[0].key, "B");
        assert_eq!(stats.by_grid[0].name.as_deref(), Some("grid B"));
        assert_eq!((stats.by_grid[1].closed, stats.by_grid[1].closed_on_time), (4, 3));
        assert_eq!(stats.by_department.len(), 1);
        assert_eq!(stats.by_status.iter().find(|t| t.key == "dispatched").map(|t| t.overdue), Some(2));
    }

    #[test]
    fn a_worker_reporting_in_two_grids_is_one_line() {
        let reporters = [
            ReporterTallyRow {
                user_id: "u1".into(),
                user_name: "李".into(),
                grid: "A".into(),
                total: 2,
                closed: 1,
                handled_in_grid: 1,
            },
            ReporterTallyRow {
                user_id: "u1".into(),
                user_name: "李".into(),
                grid: "B".into(),
                total: 3,
                closed: 0,
                handled_in_grid: 0,
            },
            ReporterTallyRow {
                user_id: "u2".into(),
                user_name: "王".into(),
                grid: "B".into(),
                total: 4,
                closed: 4,
                handled_in_grid: 2,
            },
        ];
        let stats = fold(&[], &reporters, |_| None);
        assert_eq!(stats.by_worker.len(), 2);
        assert_eq!((stats.by_worker[0].key.as_str(), stats.by_worker[0].total), ("u1", 5));
        assert_eq!(stats.by_worker[1].handled_in_grid, 2);
    }
}
