//! Users, and the groups a user has joined.

use rand::Rng;
use time::OffsetDateTime;

use super::assignments::PrincipalKind;
use super::list::{ListQuery, TextFilter, list};
use super::{ActionError, Outcome, State, check_len, format_time, lower};
use crate::tencent::model::*;

#[derive(Debug, Clone)]
pub(super) struct User {
    pub seq: u64,
    pub info: UserInfo,
}

fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

impl State {
    pub(super) fn user(&self, user_id: &str) -> Outcome<&User> {
        self.users.get(user_id).ok_or_else(|| {
            ActionError::new(
                "ResourceNotFound.UserNotExist",
                format!("User {user_id} does not exist"),
            )
        })
    }

    fn user_writable(&self, user: &User, deleting: bool) -> Outcome<()> {
        match user.info.user_type {
            ObjectType::Synchronized if self.settings.scim_sync_enabled => Err(if deleting {
                ActionError::new(
                    "FailedOperation.SynchronizedUserNotDelete",
                    "Synchronized users cannot be deleted while SCIM synchronization is enabled",
                )
            } else {
                ActionError::new(
                    "FailedOperation.SynchronizedUserNotUpdate",
                    "Synchronized users cannot be changed while SCIM synchronization is enabled",
                )
            }),
            ObjectType::Manual if self.settings.manual_lock => Err(if deleting {
                ActionError::new(
                    "FailedOperation.ManualUserNotDelete",
                    "Manual users cannot be deleted in this zone",
                )
            } else {
                ActionError::new(
                    "FailedOperation.ManualUserNotUpdate",
                    "Manual users cannot be changed in this zone",
                )
            }),
            _ => Ok(()),
        }
    }

    fn email_taken(&self, email: &str, except: Option<&str>) -> bool {
        !email.is_empty()
            && self.users.values().any(|u| {
                Some(u.info.user_id.as_str()) != except
                    && !u.info.email.is_empty()
                    && lower(&u.info.email) == lower(email)
            })
    }

    fn password(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789!@#%";
        (0..16)
            .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
            .collect()
    }

    pub(super) fn create_user(&mut self, r: CreateUser, now: OffsetDateTime) -> Outcome<UserInfoResponse> {
        self.zone(&r.zone_id)?;
        if !valid_user_name(&r.user_name) {
            return Err(ActionError::new(
                "InvalidParameter.UsernameFormatError",
                "UserName must be 1-64 characters of [0-9A-Za-z+=,.@_-]",
            ));
        }
        check_len("FirstName", r.first_name.as_deref(), 64)?;
        check_len("LastName", r.last_name.as_deref(), 64)?;
        check_len("DisplayName", r.display_name.as_deref(), 256)?;
        check_len("Description", r.description.as_deref(), 1024)?;
        check_len("Email", r.email.as_deref(), 128)?;
        // UNCERTAIN in the reference whether uniqueness is case-insensitive; the stricter
        // choice makes a bridge that compares exactly find out early.
        if self
            .users
            .values()
            .any(|u| lower(&u.info.user_name) == lower(&r.user_name))
        {
            return Err(ActionError::new(
                "InvalidParameter.UsernameAlreadyExists",
                format!("UserName {} already exists", r.user_name),
            ));
        }
        if let Some(email) = &r.email {
            if self.email_taken(email, None) {
                return Err(ActionError::new(
                    "InvalidParameter.EmailAlreadyExists",
                    format!("Email {email} is already used"),
                ));
            }
        }
        if self.users.len() as u64 >= self.settings.user_limit {
            return Err(ActionError::new(
                "FailedOperation.UserOverUpperLimit",
                "The zone has reached its user quota",
            ));
        }
        let id = self.new_id("u-");
        let seq = self.next_seq();
        let time = format_time(now);
        let info = UserInfo {
            user_name: r.user_name,
            first_name: r.first_name.unwrap_or_default(),
            last_name: r.last_name.unwrap_or_default(),
            display_name: r.display_name.unwrap_or_default(),
            description: r.description.unwrap_or_default(),
            email: r.email.unwrap_or_default(),
            user_status: r.user_status.unwrap_or_default(),
            user_type: r.user_type.unwrap_or_default(),
            user_id: id.clone(),
            create_time: time.clone(),
            update_time: time,
            is_selected: None,
            password: None,
            need_reset_password: Some(r.need_reset_password.unwrap_or(false)),
        };
        self.users.insert(
            id,
            User {
                seq,
                info: info.clone(),
            },
        );
        let password = Some(self.password());
        Ok(UserInfoResponse {
            user_info: UserInfo { password, ..info },
            request_id: String::new(),
        })
    }

    pub(super) fn get_user(&mut self, r: GetUser, _: OffsetDateTime) -> Outcome<UserInfoResponse> {
        self.zone(&r.zone_id)?;
        Ok(UserInfoResponse {
            user_info: self.user(&r.user_id)?.info.clone(),
            request_id: String::new(),
        })
    }

    pub(super) fn list_users(&mut self, r: ListUsers, _: OffsetDateTime) -> Outcome<ListUsersResponse> {
        self.zone(&r.zone_id)?;
        let text = TextFilter::new(r.filter.as_deref());
        let selected_groups = r.filter_groups.clone().unwrap_or_default();
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            offset: r.offset,
            sort_field: r.sort_field.as_deref(),
            sort_type: r.sort_type,
        };
        let page = list(
            &query,
            self.users.values(),
            |u| {
                r.user_status.is_none_or(|s| u.info.user_status == s)
                    && r.user_type.is_none_or(|t| u.info.user_type == t)
                    && text.matches([
                        u.info.user_name.as_str(),
                        &u.info.email,
                        &u.info.user_id,
                        &u.info.description,
                    ])
            },
            |u| {
                let mut info = u.info.clone();
                if r.filter_groups.is_some() {
                    let selected = selected_groups
                        .iter()
                        .any(|g| self.memberships.contains_key(&(g.clone(), u.info.user_id.clone())));
                    info.is_selected = Some(selected);
                }
                (u.seq, info)
            },
        )?;
        Ok(ListUsersResponse {
            total_counts: page.total,
            max_results: page.max_results,
            users: page.items,
            next_token: page.next_token,
            is_truncated: page.is_truncated,
            request_id: String::new(),
        })
    }

    pub(super) fn update_user(&mut self, r: UpdateUser, now: OffsetDateTime) -> Outcome<UpdateUserResponse> {
        self.zone(&r.zone_id)?;
        let user = self.user(&r.user_id)?;
        self.user_writable(user, false)?;
        check_len("NewFirstName", r.new_first_name.as_deref(), 64)?;
        check_len("NewLastName", r.new_last_name.as_deref(), 64)?;
        check_len("NewDisplayName", r.new_display_name.as_deref(), 256)?;
        check_len("NewDescription", r.new_description.as_deref(), 1024)?;
        check_len("NewEmail", r.new_email.as_deref(), 128)?;
        if let Some(email) = &r.new_email {
            if self.email_taken(email, Some(&r.user_id)) {
                return Err(ActionError::new(
                    "InvalidParameter.EmailAlreadyExists",
                    format!("Email {email} is already used"),
                ));
            }
        }
        let time = format_time(now);
        let user = self
            .users
            .get_mut(&r.user_id)
            .ok_or_else(|| ActionError::new("ResourceNotFound.UserNotExist", "User does not exist"))?;
        let info = &mut user.info;
        // Fields not sent stay unchanged (INFERRED in the reference).
        if let Some(v) = r.new_first_name {
            info.first_name = v;
        }
        if let Some(v) = r.new_last_name {
            info.last_name = v;
        }
        if let Some(v) = r.new_display_name {
            info.display_name = v;
        }
        if let Some(v) = r.new_description {
            info.description = v;
        }
        if let Some(v) = r.new_email {
            info.email = v;
        }
        if let Some(v) = r.need_reset_password {
            info.need_reset_password = Some(v);
        }
        info.update_time = time;
        Ok(UpdateUserResponse {
            user_info: Some(info.clone()),
            request_id: String::new(),
        })
    }

    pub(super) fn update_user_status(&mut self, r: UpdateUserStatus, now: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let user = self.user(&r.user_id)?;
        self.user_writable(user, false)?;
        let time = format_time(now);
        if let Some(user) = self.users.get_mut(&r.user_id) {
            user.info.user_status = r.new_user_status;
            user.info.update_time = time;
        }
        Ok(EmptyResponse::default())
    }

    pub(super) fn delete_user(&mut self, r: DeleteUser, _: OffsetDateTime) -> Outcome<EmptyResponse> {
        self.zone(&r.zone_id)?;
        let user = self.user(&r.user_id)?;
        self.user_writable(user, true)?;
        if self.memberships.keys().any(|(_, u)| *u == r.user_id) {
            return Err(ActionError::new(
                "InvalidParameter.UserAlreadyExistsGroup",
                "The user still belongs to a group; remove it from its groups first",
            ));
        }
        if self.has_assignments_of(PrincipalKind::User, &r.user_id) {
            return Err(ActionError::new(
                "FailedOperation.RoleConfigurationAuthorizationExist",
                "The user still has role assignments",
            ));
        }
        self.users.remove(&r.user_id);
        Ok(EmptyResponse::default())
    }

    pub(super) fn list_joined_groups_for_user(
        &mut self,
        r: ListJoinedGroupsForUser,
        _: OffsetDateTime,
    ) -> Outcome<ListJoinedGroupsForUserResponse> {
        self.zone(&r.zone_id)?;
        self.user(&r.user_id)?;
        let query = ListQuery {
            max_results: r.max_results,
            next_token: r.next_token.as_deref(),
            ..ListQuery::default()
        };
        // The user's memberships with their group; one whose group is gone is not listed.
        let memberships = self
            .memberships
            .iter()
            .filter(|((_, u), _)| *u == r.user_id)
            .filter_map(|((g, _), joined)| self.groups.get(g).map(|group| (group, joined)));
        // ListJoinedGroupsForUser has no filters.
        let page = list(
            &query,
            memberships,
            |_| true,
            |(group, joined)| {
                (
                    group.seq,
                    JoinedGroups {
                        group_name: group.info.group_name.clone(),
                        description: group.info.description.clone(),
                        group_id: group.info.group_id.clone(),
                        group_type: group.info.group_type,
                        join_time: joined.clone(),
                    },
                )
            },
        )?;
        Ok(ListJoinedGroupsForUserResponse {
            next_token: page.next_token,
            total_counts: page.total,
            max_results: page.max_results,
            is_truncated: page.is_truncated,
            joined_groups: page.items,
            request_id: String::new(),
        })
    }
}
