//! The rules of the case flow (录入—上报—分派—流转—处置), without storage:
//! which step may follow which status, who may take it, what it needs and
//! what it changes. Steps: accept (受理), reject (不予受理), dispatch to a
//! department (分派), transfer to another (流转), return to the grid
//! (退回), escalate one level up the grid tree (上报), handle (处置, the
//! department's reply), close (办结) with feedback, return visit (回访) with
//! the reporter's satisfaction, and supervise (督办) a case that is late or
//! nearly so.
//!
//! Reading and writing the case, its trail and its deadlines, and deciding
//! which cases a person may see at all (their grids, their department), are
//! the storage's business; `deadlines.rs` counts the time.

pub use gridwork_protocol::cases::{Satisfaction, Step, StepRequest};
use serde::{Deserialize, Serialize};

/// Where a case stands in the flow (the case record's `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Reported by a worker or entered at the console, waiting for the
    /// centre.
    Reported,
    Accepted,
    /// With a department.
    Dispatched,
    /// The department (or the grid) replied that it is dealt with.
    Handled,
    Closed,
    /// Closed, and the reporter was asked how it went.
    Visited,
    /// Sent back to the grid's worker (more to find out, or theirs to do).
    Returned,
    /// Not a case for the centre (不予受理).
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reported => "reported",
            Status::Accepted => "accepted",
            Status::Dispatched => "dispatched",
            Status::Handled => "handled",
            Status::Closed => "closed",
            Status::Visited => "visited",
            Status::Returned => "returned",
            Status::Rejected => "rejected",
        }
    }

    pub const ALL: [Status; 8] = [
        Status::Reported,
        Status::Accepted,
        Status::Dispatched,
        Status::Handled,
        Status::Closed,
        Status::Visited,
        Status::Returned,
        Status::Rejected,
    ];

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the flow is done with the case: closed (and perhaps
    /// visited), or not accepted at all. A handled case is not: the centre
    /// has yet to close it.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Closed | Status::Visited | Status::Rejected)
    }

    /// Whether the case still runs against its deadline.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Reported | Status::Accepted | Status::Dispatched | Status::Returned)
    }
}

/// Who takes a step, as far as the flow cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Centre staff (and admins): the whole flow, within their grids.
    Centre,
    /// A department's handler: the cases with that department.
    Handler { department: String },
}

/// What the flow knows of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub status: Status,
    /// The department it is with, if dispatched.
    pub department: Option<String>,
    /// The grid whose centre handles it: its own grid at first, one level
    /// up after each escalation.
    pub handling_grid: String,
    /// The grid above `handling_grid`, if there is one.
    pub parent_grid: Option<String>,
}

/// What a step does to the case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub department: Option<String>,
    pub handling_grid: String,
    /// Handled by the grid itself (小事不出格): handled without a
    /// department.
    pub handled_in_grid: bool,
}

/// Why a step is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("a case that is {status} cannot take the step `{step}`")]
    NotNow { step: &'static str, status: &'static str },
    #[error("only the centre may {step} a case")]
    CentreOnly { step: &'static str },
    #[error("this case is not with your department")]
    NotYourDepartment,
    #[error("{step} needs {what}")]
    Needs { step: &'static str, what: &'static str },
    #[error("the case is with that department already")]
    SameDepartment,
    #[error("the case is handled at the top of the grid tree already")]
    AtTheTop,
}

impl StepError {
    /// The message in Chinese.
    pub fn zh(&self) -> String {
        match self {
            StepError::NotNow { step, status } => {
                format!("该事件当前状态为{},不能{}", status_zh(status), step_zh(step))
            }
            StepError::CentreOnly { step } => format!("只有网格中心可以{}", step_zh(step)),
            StepError::NotYourDepartment => "该事件不在本部门".into(),
            StepError::Needs { step, what } => format!("{}需要填写{}", step_zh(step), what_zh(what)),
            StepError::SameDepartment => "该事件已在该部门".into(),
            StepError::AtTheTop => "该事件已由最上级网格处理,无法再上报".into(),
        }
    }
}

fn step_zh(step: &str) -> &'static str {
    Step::ALL.iter().find(|s| s.as_str() == step).map_or("处理", |s| s.zh())
}

fn status_zh(status: &str) -> &'static str {
    match status {
        "reported" => "已上报",
        "accepted" => "已受理",
        "dispatched" => "已派遣",
        "handled" => "已处置",
        "closed" => "已结案",
        "visited" => "已回访",
        "returned" => "已退回",
        "rejected" => "不予受理",
        _ => "未知",
    }
}

fn what_zh(what: &str) -> &'static str {
    match what {
        "a department" => "处置部门",
        "a note" => "说明",
        "a satisfaction" => "满意度",
        _ => "内容",
    }
}

/// The outcome of `request` on a case in `flow`, taken by `actor`, or why
/// not.
/// The steps `actor` may take on the case now, whatever they must add to
/// take them (a note, a department, the satisfaction).
pub fn open_steps(flow: &Flow, actor: &Actor) -> Vec<Step> {
    Step::ALL
        .into_iter()
        .filter(|&step| {
            let filled = StepRequest {
                step: Some(step),
                // No department is named this: any real one differs from it.
                department: Some("\u{0}".into()),
                note: Some("-".into()),
                satisfaction: Some(Satisfaction::Satisfied),
            };
            take(flow, actor, &filled).is_ok()
        })
        .collect()
}

pub fn take(flow: &Flow, actor: &Actor, request: &StepRequest) -> Result<Outcome, StepError> {
    let step = request.step.ok_or(StepError::Needs { step: "take", what: "a step" })?;
    let name = step.as_str();
    let not_now = || StepError::NotNow { step: name, status: flow.status.as_str() };
    let note = request.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let needs_note = || note.ok_or(StepError::Needs { step: name, what: "a note" }).map(|_| ());
    let department = request.department.as_deref().map(str::trim).filter(|d| !d.is_empty());
    let centre_only = || match actor {
        Actor::Centre => Ok(()),
        Actor::Handler { .. } => Err(StepError::CentreOnly { step: name }),
    };
    // A handler acts only on what is with their department.
    let with_actor = || match actor {
        Actor::Centre => Ok(()),
        Actor::Handler { department } if flow.department.as_deref() == Some(department) => Ok(()),
        Actor::Handler { .. } => Err(StepError::NotYourDepartment),
    };
    let same = |status: Status| Outcome {
        status,
        department: flow.department.clone(),
        handling_grid: flow.handling_grid.clone(),
        handled_in_grid: false,
    };
    use Status::*;
    match step {
        Step::Accept => {
            centre_only()?;
            matches!(flow.status, Reported | Returned).then_some(()).ok_or_else(not_now)?;
            Ok(same(Accepted))
        }
        Step::Reject => {
            centre_only()?;
            matches!(flow.status, Reported | Accepted | Returned).then_some(()).ok_or_else(not_now)?;
            needs_note()?;
            Ok(same(Rejected))
        }
        Step::Dispatch => {
            centre_only()?;
            (flow.status == Accepted).then_some(()).ok_or_else(not_now)?;
            let department = department.ok_or(StepError::Needs { step: name, what: "a department" })?;
            Ok(Outcome { department: Some(department.to_owned()), ..same(Dispatched) })
        }
        Step::Transfer => {
            with_actor()?;
            (flow.status == Dispatched).then_some(()).ok_or_else(not_now)?;
            let department = department.ok_or(StepError::Needs { step: name, what: "a department" })?;
            if flow.department.as_deref() == Some(department) {
                return Err(StepError::SameDepartment);
            }
            Ok(Outcome { department: Some(department.to_owned()), ..same(Dispatched) })
        }
        Step::Return => {
            with_actor()?;
            matches!(flow.status, Accepted | Dispatched).then_some(()).ok_or_else(not_now)?;
            needs_note()?;
            Ok(Outcome { department: None, ..same(Returned) })
        }
        Step::Escalate => {
            centre_only()?;
            matches!(flow.status, Reported | Accepted).then_some(()).ok_or_else(not_now)?;
            let parent = flow.parent_grid.clone().ok_or(StepError::AtTheTop)?;
            Ok(Outcome { handling_grid: parent, ..same(flow.status) })
        }
        Step::Handle => {
            needs_note()?;
            match (flow.status, actor) {
                (Dispatched, _) => {
                    with_actor()?;
                    Ok(same(Handled))
                }
                // Handled by the grid itself, with no department.
                (Accepted, Actor::Centre) => Ok(Outcome { handled_in_grid: true, ..same(Handled) }),
                _ => Err(not_now()),
            }
        }
        Step::Close => {
            centre_only()?;
            (flow.status == Handled).then_some(()).ok_or_else(not_now)?;
            needs_note()?;
            Ok(same(Closed))
        }
        Step::Visit => {
            centre_only()?;
            (flow.status == Closed).then_some(()).ok_or_else(not_now)?;
            request.satisfaction.ok_or(StepError::Needs { step: name, what: "a satisfaction" })?;
            Ok(same(Visited))
        }
        Step::Supervise => {
            centre_only()?;
            flow.status.is_open().then_some(()).ok_or_else(not_now)?;
            needs_note()?;
            Ok(same(flow.status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(status: Status, department: Option<&str>) -> Flow {
        Flow {
            status,
            department: department.map(str::to_owned),
            handling_grid: "C1-01".into(),
            parent_grid: Some("C1".into()),
        }
    }

    fn ask(step: Step) -> StepRequest {
        StepRequest { step: Some(step), ..StepRequest::default() }
    }

    fn with_note(step: Step, note: &str) -> StepRequest {
        StepRequest { step: Some(step), note: Some(note.into()), ..StepRequest::default() }
    }

    fn to(step: Step, department: &str) -> StepRequest {
        StepRequest { step: Some(step), department: Some(department.into()), ..StepRequest::default() }
    }

    fn handler(department: &str) -> Actor {
        Actor::Handler { department: department.into() }
    }

    #[test]
    fn a_case_goes_from_report_to_return_visit() {
        let centre = Actor::Centre;
        let accepted = take(&flow(Status::Reported, None), &centre, &ask(Step::Accept)).unwrap();
        assert_eq!(accepted.status, Status::Accepted);
        let dispatched = take(&flow(Status::Accepted, None), &centre, &to(Step::Dispatch, "water")).unwrap();
        assert_eq!(
            (dispatched.status, dispatched.department.as_deref()),
            (Status::Dispatched, Some("water"))
        );
        let handled = take(
            &flow(Status::Dispatched, Some("water")),
            &handler("water"),
            &with_note(Step::Handle, "已修复"),
        )
        .unwrap();
        assert_eq!((handled.status, handled.handled_in_grid), (Status::Handled, false));
        let closed =
            take(&flow(Status::Handled, Some("water")), &centre, &with_note(Step::Close, "已办结")).unwrap();
        assert_eq!(closed.status, Status::Closed);
        let visit = StepRequest { satisfaction: Some(Satisfaction::Satisfied), ..ask(Step::Visit) };
        assert_eq!(
            take(&flow(Status::Closed, Some("water")), &centre, &visit).unwrap().status,
            Status::Visited
        );
    }

    #[test]
    fn a_handler_acts_only_on_their_departments_cases_and_not_for_the_centre() {
        let water = flow(Status::Dispatched, Some("water"));
        assert_eq!(
            take(&water, &handler("power"), &with_note(Step::Handle, "x")),
            Err(StepError::NotYourDepartment)
        );
        assert_eq!(
            take(&water, &handler("water"), &to(Step::Transfer, "power")).unwrap().department.as_deref(),
            Some("power")
        );
        for step in [Step::Accept, Step::Dispatch, Step::Close, Step::Escalate, Step::Supervise] {
            assert!(
                matches!(
                    take(&water, &handler("water"), &with_note(step, "x")),
                    Err(StepError::CentreOnly { .. })
                ),
                "{step:?}"
            );
        }
    }

    #[test]
    fn steps_out_of_order_are_refused_and_named() {
        let centre = Actor::Centre;
        let refused = take(&flow(Status::Reported, None), &centre, &to(Step::Dispatch, "water")).unwrap_err();
        assert_eq!(refused, StepError::NotNow { step: "dispatch", status: "reported" });
        assert!(refused.zh().contains("已上报") && refused.zh().contains("分派"), "{}", refused.zh());
        assert!(take(&flow(Status::Closed, None), &centre, &with_note(Step::Close, "x")).is_err());
        assert!(take(&flow(Status::Rejected, None), &centre, &ask(Step::Accept)).is_err());
        assert!(take(&flow(Status::Visited, None), &centre, &with_note(Step::Supervise, "x")).is_err());
    }

    #[test]
    fn steps_that_need_something_say_what() {
        let centre = Actor::Centre;
        assert_eq!(
            take(&flow(Status::Accepted, None), &centre, &ask(Step::Dispatch)),
            Err(StepError::Needs { step: "dispatch", what: "a department" })
        );
        assert_eq!(
            take(&flow(Status::Handled, None), &centre, &with_note(Step::Close, "   ")),
            Err(StepError::Needs { step: "close", what: "a note" })
        );
        assert_eq!(
            take(&flow(Status::Closed, None), &centre, &ask(Step::Visit)),
            Err(StepError::Needs { step: "visit", what: "a satisfaction" })
        );
        assert_eq!(
            take(&flow(Status::Dispatched, Some("water")), &centre, &to(Step::Transfer, "water")),
            Err(StepError::SameDepartment)
        );
    }

    #[test]
    fn escalation_moves_the_handling_grid_up_and_stops_at_the_top() {
        let centre = Actor::Centre;
        let up = take(&flow(Status::Accepted, None), &centre, &ask(Step::Escalate)).unwrap();
        assert_eq!((up.status, up.handling_grid.as_str()), (Status::Accepted, "C1"));
        let top = Flow { parent_grid: None, ..flow(Status::Accepted, None) };
        assert_eq!(take(&top, &centre, &ask(Step::Escalate)), Err(StepError::AtTheTop));
    }

    #[test]
    fn small_matters_are_handled_in_the_grid_and_returns_clear_the_department() {
        let centre = Actor::Centre;
        let handled =
            take(&flow(Status::Accepted, None), &centre, &with_note(Step::Handle, "网格员已处理")).unwrap();
        assert_eq!((handled.status, handled.handled_in_grid), (Status::Handled, true));
        let back = take(
            &flow(Status::Dispatched, Some("water")),
            &handler("water"),
            &with_note(Step::Return, "非本部门"),
        )
        .unwrap();
        assert_eq!((back.status, back.department), (Status::Returned, None));
        assert_eq!(
            take(&flow(Status::Returned, None), &centre, &ask(Step::Accept)).unwrap().status,
            Status::Accepted
        );
    }
}
