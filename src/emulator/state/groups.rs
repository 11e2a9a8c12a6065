//! Groups and their members.

use time::OffsetDateTime;

use super::assignments::PrincipalKind;
use super::list::{ListQuery, list};
use super::{ActionError, Outcome, State, check_len, format_time, lower, valid_strict_name};
use crate::tencent::model::*;

#[derive(Debug, Clone)]
pub(super) struct Group {
    pub seq: u64,
    pub info: GroupInfo,
}

/// What a caller wants to do to a group, which decides the error a read-only group answers.
#[derive(Debug, Clone, Copy)]
enum GroupOp {
    Update,
    Delete,
    AddUser,
    RemoveUser,
}

fn valid_lenient_name(name: &str, max: usize) -> bool {
    !name.trim().is_empty() && name.chars().count() <= max && !name.chars().any(char::is_control)
}

/// ListGroups `Filter`: `GroupName eq X` or `GroupName sw X`, case-insensitive.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GroupFilter {
    Eq(String),
    StartsWith(String),
}

impl GroupFilter {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Eq(v) => lower(name) == *v,
            Self::StartsWith(v) => lower(name).starts_with(v.as_str()),
        }
    }
}

pub(super) fn parse_group_filter(filter: &str) -> Outcome<Option<GroupFilter>> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ActionError::new(
            "InvalidParameter.ParamError",
            "Filter must be `GroupName eq X` or `GroupName sw X`",
        )
    };
    let mut parts = filter.splitn(3, char::is_whitespace);
    let attr = parts.next().ok_or_else(bad)?;
    let op = parts.next().ok_or_else(bad)?;
    let value = parts.next().map(str::trim).filter(|v| !v.is_empty()).ok_or_else(bad)?;
    if !attr.eq_ignore_ascii_case("GroupName") {
        return Err(bad());
    }
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let value = lower(value);
    match op.to_ascii_lowercase().as_str() {
        "eq" => Ok(Some(GroupFilter::Eq(value))),
        "sw" => Ok(Some(GroupFilter::StartsWith(value))),
        _ => Err(bad()),
    }
}

impl State {
    pub(super) fn group(&self, group_id: &str) -> Outcome<&Group> {
        self.groups.get(group_id).ok_or_else(|| {
            ActionError::new(
                "InvalidParameter.GroupNotExist",
                format!("Group {group_id} does not exist"),
            )
        })
    }

    fn group_writable(&self, group: &Group, op: GroupOp) -> Outcome<()> {
        match group.info.group_type {
            ObjectType::Synchronized if self.settings.scim_sync_enabled => Err(match op {
                GroupOp::Update => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotUpdate",
                    "Synchronized groups cannot be changed while SCIM synchronization is enabled",
                ),
                GroupOp::Delete => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotDelete",
                    "Synchronized groups cannot be deleted while SCIM synchronization is enabled",
                ),
                GroupOp::AddUser => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotAddUser",
                    "Members cannot be added to a Synchronized group while SCIM synchronization is enabled",
                ),
                GroupOp::RemoveUser => ActionError::new(
                    "FailedOperation.SynchronizedGroupNotRemoveUser",
                    "Members cannot be removed from a Synchronized group while SCIM synchronization is enabled",
                ),
            }),
            ObjectType::Manual if self.settings.manual_lock => Err(match op {
                GroupOp::Delete => ActionError::new(
                    "FailedOperation.ManualGroupNotDelete",
                    "Manual groups cannot be deleted in this zone",
                ),
                _ => ActionError::new(
                    "FailedOperation.ManualGroupNotUpdate",
                    "Manual groups cannot be changed in this zone",
                ),
            }),
            _ => Ok(()),
        }
    }

    fn group_name_ok(&self, name: &str) -> bool {
        if self.settings.strict_group_names {
            valid_strict_name(name, 128)
        } else {
            valid_lenient_name(name, 128)
        }
    }

    fn group_name_taken(&self, name: &str, except: Option<&str>) -> bool {
        self.groups
            .values()
            .any(|g| Some(g.info.group_id.as_str()) != except && lower(&g.info.group_name) == lower(name))
    }

    fn member_count(&self, group_id: &str) -> u64 {
        self.memberships
            .range((group_id.to_owned(), String::new())..)
            .take_while(|((g, _), _)| g == group_id)
            .count() as u64
    }

    /// The stored group with its current member count.
    pub(super) fn group_info(&self, group: &Group) -> GroupInfo {
        GroupInfo {
            member_count: self.member_count(&group.info.group_id),
            ..group.info.clone()
        }
    }

    pub(super) fn create_group(&mut self, r: CreateGroup, now: OffsetDateTime) -> Outcome<GroupInfoResponse> {
        self.zone(&r.zone_id)?;
        if !self.group_name_ok(&r.group_name) {
            return Err(ActionError::new(
                "InvalidParameter.GroupNameFormatError",
                "GroupName must be 1-128 characters of letters, digits and '-'",
            ));
        }
        check_len("Description", r.description.as_deref(), 1024)?;
        if self.group_name_taken(&r.group_name, None) {
            return Err(ActionError::new(
                "InvalidParameter.GroupNameAlreadyExists",
                format!("GroupName {} already exists", r.group_name),
            ));
        }
        if self.groups.len() as u64 >= self.settings.group_limit {
            return Err(ActionError::new(
                "FailedOperation.GroupOverUpperLimit",
                "The zone has reached its group quota",
            ));
        }
        let id = self.new_id("g-");
        let seq = self.next_seq();
        let time = format_time(now);
        let info = GroupInfo {
            group_name: r.group_name,
            description: r.description.unwrap_or_default(),
            create_time: time.clone(),
            group_type: r.group_type.unwrap_or_default(),
            update_time: time,
            group_id: id.clone(),
            member_count: 0,
            is_selected: None,
        };
        self.groups.insert(
            id,
            Group {
                seq,
                info: info.clone(),
            },
        );
        Ok(GroupInfoResponse {
            group_info: Some(info),
            request_id: String::new(),
        })
    }

    pub(super) fn get_group(&mut self, r: GetGroup, _: OffsetDateTime) -> Outcome<GroupInfoResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        Ok(GroupInfoResponse {
            group_info: Some(self.group_info(group)),
            request_id: String::new(),
        })
    }

    pub(super) fn list_groups(&mut self, r: ListGroups, _: OffsetDateTime) -> Outcome<ListGroupsResponse> {
        self.zone(&r.zone_id)?;
        let filter = r.filter.as_deref().map(parse_group_filter).transpose()?.flatten();
        let users = r.filter_users.clone().unwrap_or_default();
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            offset: r.offset,
            sort_field: r.sort_field.as_deref(),
            sort_type: r.sort_type,
        };
        let page = list(
            &query,
            self.groups.values(),
            |g| {
                r.group_type.is_none_or(|t| g.info.group_type == t)
                    && filter.as_ref().is_none_or(|f| f.matches(&g.info.group_name))
            },
            |g| {
                let mut info = self.group_info(g);
                if r.filter_users.is_some() {
                    let selected = users
                        .iter()
                        .any(|u| self.memberships.contains_key(&(g.info.group_id.clone(), u.clone())));
                    info.is_selected = Some(selected);
                }
                (g.seq, info)
            },
        )?;
        Ok(ListGroupsResponse {
            next_token: page.next_token,
            groups: page.items,
            max_results: page.max_results,
            total_counts: page.total,
            is_truncated: page.is_truncated,
            request_id: String::new(),
        })
    }

    pub(super) fn update_group(&mut self, r: UpdateGroup, now: OffsetDateTime) -> Outcome<GroupInfoResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        self.group_writable(group, GroupOp::Update)?;
        if let Some(name) = &r.new_group_name {
            if !self.group_name_ok(name) {
                return Err(ActionError::new(
                    "InvalidParameter.GroupNameFormatError",
                    "GroupName must be 1-128 characters of letters, digits and '-'",
                ));
            }
            if self.group_name_taken(name, Some(&r.group_id)) {
                return Err(ActionError::new(
                    "InvalidParameter.GroupNameAlreadyExists",
                    format!("GroupName {name} already exists"),
                ));
            }
        }
        check_len("NewDescription", r.new_description.as_deref(), 1024)?;
        let time = format_time(now);
        if let Some(group) = self.groups.get_mut(&r.group_id) {
            if let Some(name) = r.new_group_name {
                group.info.group_name = name;
            }
            if let Some(description) = r.new_description {
                group.info.description = description;
            }
            group.info.update_time = time;
        }
        let group = self.group(&r.group_id)?;
        Ok(GroupInfoResponse {
            group_info: Some(self.group_info(group)),
            request_id: String::new(),
        })
    }

    pub(super) fn delete_group(&mut self, r: DeleteGroup, _: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        self.group_writable(group, GroupOp::Delete)?;
        if self.member_count(&r.group_id) > 0 {
            return Err(ActionError::new(
                "FailedOperation.DeleteGroupNotAllowExistUser",
                "The group still has members; remove them first",
            ));
        }
        if self.has_assignments_of(PrincipalKind::Group, &r.group_id) {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationAuthorizationExist",
                "The group still has role assignments",
            ));
        }
        self.groups.remove(&r.group_id);
        Ok(EmptyResponse::default())
    }

    pub(super) fn add_user_to_group(&mut self, r: AddUserToGroup, now: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        let user = self.user(&r.user_id)?;
        self.group_writable(group, GroupOp::AddUser)?;
        if group.info.group_type != user.info.user_type {
            return Err(ActionError::new(
                "FailedOperation.GroupTypeUserTypeNotMatch",
                "User type and group type must match",
            ));
        }
        let key = (r.group_id.clone(), r.user_id.clone());
        if self.memberships.contains_key(&key) {
            return Err(ActionError::new(
                "InvalidParameter.GroupUserAlreadyExists",
                "The user is already a member of the group",
            ));
        }
        if self.member_count(&r.group_id) >= self.settings.group_member_limit {
            return Err(ActionError::new(
                "FailedOperation.GroupUserCountOverUpperLimit",
                "The group has reached its member limit",
            ));
        }
        let joined = self.memberships.keys().filter(|(_, u)| *u == r.user_id).count() as u64;
        if joined >= self.settings.user_group_limit {
            return Err(ActionError::new(
                "FailedOperation.UserAddGroupCountOverUpperLimit",
                "The user has reached its group limit",
            ));
        }
        self.memberships.insert(key, format_time(now));
        Ok(EmptyResponse::default())
    }

    pub(super) fn remove_user_from_group(
        &mut self,
        r: RemoveUserFromGroup,
        _: OffsetDateTime,
    ) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let group = self.group(&r.group_id)?;
        self.group_writable(group, GroupOp::RemoveUser)?;
        // The documented error list has no UserNotExist here: a deleted user is simply not a
        // member.
        if self
            .memberships
            .remove(&(r.group_id.clone(), r.user_id.clone()))
            .is_none()
        {
            return Err(ActionError::new(
                "InvalidParameter.GroupUserNotExist",
                "The user is not a member of the group",
            ));
        }
        Ok(EmptyResponse::default())
    }

    pub(super) fn list_group_members(
        &mut self,
        r: ListGroupMembers,
        _: OffsetDateTime,
    ) -> Outcome<ListGroupMembersResponse> {
        self.zone(&r.zone_id)?;
        self.group(&r.group_id)?;
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            ..ListQuery::default()
        };
        // The group's memberships with their user; one whose user is gone is not listed.
        let members = self
            .memberships
            .iter()
            .filter(|((g, _), _)| *g == r.group_id)
            .filter_map(|((_, u), joined)| self.users.get(u).map(|user| (user, joined)));
        let page = list(
            &query,
            members,
            |(user, _)| r.user_type.is_none_or(|t| user.info.user_type == t),
            |(user, joined)| {
                (
                    user.seq,
                    GroupMembers {
                        user_name: user.info.user_name.clone(),
                        display_name: user.info.display_name.clone(),
                        description: user.info.description.clone(),
                        email: user.info.email.clone(),
                        user_status: user.info.user_status,
                        user_type: user.info.user_type,
                        user_id: user.info.user_id.clone(),
                        join_time: joined.clone(),
                    },
                )
            },
        )?;
        Ok(ListGroupMembersResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            group_members: page.items,
            request_id: String::new(),
        })
    }
}
