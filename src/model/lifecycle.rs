//! Who may do what (roles of API keys), and how a report moves through the
//! DansMaRue workflow.

use std::fmt;
use std::str::FromStr;

use super::Status;

/// The role of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A mobile or web client: files reports, uploads photos, supports.
    App,
    /// A city service: moves reports through the lifecycle, answers.
    Agent,
    /// Manages campaigns, keys and perimeter layers.
    Admin,
    /// Reads statistics.
    Analyst,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::App, Role::Agent, Role::Admin, Role::Analyst];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Analyst => "analyst",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected one of app agent admin analyst")]
pub struct RoleError(pub String);

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleError(s.chars().take(32).collect()))
    }
}

/// Something that needs a key. Public reading needs none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    FileReport,
    UploadPhoto,
    Support,
    ChangeStatus,
    AddNote,
    MarkDuplicate,
    ManageCampaigns,
    ManageKeys,
    ManageLayers,
    ManageWebhooks,
    ReadStatistics,
    /// Erase one report's contact, and read whether it holds one and its
    /// erasures (never the value).
    EraseContact,
    /// Erase a resident's contact from every report holding it (a lookup by
    /// personal data: it tells which reports one person filed).
    EraseResidentContacts,
}

impl Action {
    /// The roles allowed to do this. Explicit per action: an admin is not a
    /// city service and does not file reports.
    #[must_use]
    pub fn roles(self) -> &'static [Role] {
        match self {
            // Agents file from the back office (channel `back_office`) and
            // add the after-treatment photo.
            Action::FileReport | Action::UploadPhoto => &[Role::App, Role::Agent],
            Action::Support => &[Role::App],
            Action::ChangeStatus | Action::AddNote | Action::MarkDuplicate => &[Role::Agent],
            Action::ManageCampaigns | Action::ManageKeys | Action::ManageLayers => &[Role::Admin],
            Action::ManageWebhooks => &[Role::Agent, Role::Admin],
            Action::ReadStatistics => &[Role::Analyst, Role::Admin],
            // The service handling a report may drop its contact when the
            // resident asks; only an admin (the data controller's side)
            // searches by contact.
            Action::EraseContact => &[Role::Agent, Role::Admin],
            Action::EraseResidentContacts => &[Role::Admin],
        }
    }

    #[must_use]
    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }
}

/// Why a status change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a report cannot go from {from} to {to}; from {from} it can go to: {allowed}")]
    NotAllowed {
        from: Status,
        to: Status,
        allowed: String,
    },
    #[error("a rejection needs a reason (a public note)")]
    ReasonRequired,
}

impl Status {
    /// The states a report in this state may move to. The workflow of
    /// DansMaRue: a new report is taken in charge (to process, scheduled,
    /// transferred to a contractor, under watch) and closed (done or
    /// rejected); a closed report can be reopened or archived; archived is
    /// final.
    #[must_use]
    pub fn next(self) -> &'static [Status] {
        use Status::{
            Archived, Done, New, Rejected, Scheduled, ToProcess, Transferred, UnderWatch,
        };
        match self {
            New => &[
                ToProcess,
                Scheduled,
                Transferred,
                UnderWatch,
                Done,
                Rejected,
            ],
            ToProcess => &[Scheduled, Transferred, UnderWatch, Done, Rejected],
            Scheduled => &[ToProcess, Transferred, UnderWatch, Done, Rejected],
            Transferred => &[ToProcess, Scheduled, UnderWatch, Done, Rejected],
            UnderWatch => &[ToProcess, Scheduled, Transferred, Done, Rejected],
            Done | Rejected => &[ToProcess, Archived],
            Archived => &[],
        }
    }

    /// Checks a change from `self` to `to` with its public note.
    ///
    /// # Errors
    /// [`TransitionError::NotAllowed`] outside the workflow,
    /// [`TransitionError::ReasonRequired`] for a rejection without a note.
    pub fn check_transition(self, to: Status, note: Option<&str>) -> Result<(), TransitionError> {
        if !self.next().contains(&to) {
            let allowed = self.next().iter().map(|s| s.as_str()).collect::<Vec<_>>();
            return Err(TransitionError::NotAllowed {
                from: self,
                to,
                allowed: if allowed.is_empty() {
                    "nothing (final state)".to_owned()
                } else {
                    allowed.join(", ")
                },
            });
        }
        if to == Status::Rejected && note.is_none_or(|n| n.trim().is_empty()) {
            return Err(TransitionError::ReasonRequired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_but_archived_can_be_left_and_every_state_can_be_reached() {
        for s in Status::ALL {
            if *s == Status::Archived {
                assert!(s.next().is_empty());
            } else {
                assert!(!s.next().is_empty(), "{s}");
            }
            assert!(!s.next().contains(s), "{s} loops onto itself");
            if *s != Status::New {
                assert!(
                    Status::ALL.iter().any(|from| from.next().contains(s)),
                    "{s} unreachable"
                );
            }
        }
    }

    #[test]
    fn a_closed_report_is_reopened_or_archived_only() {
        assert!(
            Status::Done
                .check_transition(Status::ToProcess, None)
                .is_ok()
        );
        assert!(
            Status::Done
                .check_transition(Status::Archived, None)
                .is_ok()
        );
        let err = Status::Done
            .check_transition(Status::Scheduled, None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a report cannot go from done to scheduled; from done it can go to: to_process, archived"
        );
        assert!(
            Status::Archived
                .check_transition(Status::New, None)
                .is_err()
        );
    }

    #[test]
    fn a_rejection_needs_a_non_blank_reason() {
        assert_eq!(
            Status::New.check_transition(Status::Rejected, Some("  ")),
            Err(TransitionError::ReasonRequired)
        );
        assert!(
            Status::New
                .check_transition(Status::Rejected, Some("Hors domaine public"))
                .is_ok()
        );
    }

    #[test]
    fn roles_parse_from_their_names_and_each_action_has_a_role() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Action::FileReport.allows(Role::App));
        assert!(!Action::FileReport.allows(Role::Admin));
        assert!(Action::ChangeStatus.allows(Role::Agent));
        assert!(!Action::ChangeStatus.allows(Role::App));
    }
}
