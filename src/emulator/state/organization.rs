//! The Tencent Cloud Organization around the zone: its department tree (the API's "nodes") and
//! its member accounts, the TargetUins that role configurations are deployed on.
//!
//! The Organization actions page by `Offset` (a multiple of `Limit`) and `Limit` (1-50) and
//! answer `Items` and `Total`, so they do not go through `list::list`. Accounts join and leave
//! the organization through other services or the console, which the emulator does not model:
//! tests do it with the emulator-only methods at the end of this file.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::{ActionError, Outcome, Settings, State, format_time, lower, value_error};
use crate::tencent::model::*;

/// The root's id and name in Tencent's DescribeOrganizationNodes example; the root of every
/// organization is created with it and has no parent (`ParentNodeId` 0).
pub(super) const ROOT_NODE_ID: i64 = 101;
const ROOT_NAME: &str = "Root";
/// The first department's id: Tencent's AddOrganizationNode example answers 1001 under 101.
const FIRST_NODE_ID: i64 = 1001;
/// "部门关系最多支持5层" (Tencent's console guide to creating departments): read as five levels
/// of departments below the root, the root itself at depth 0.
pub(super) const MAX_DEPTH: usize = 5;
/// Documented: node names are at most 40 characters; Tags lists hold at most 10 tags.
const NAME_MAX: usize = 40;
const TAGS_MAX: usize = 10;
/// Documented: `Limit` is 1-50.
const LIMIT_MAX: u64 = 50;

#[derive(Debug, Clone)]
struct Node {
    name: String,
    parent: i64,
    remark: String,
    tags: Vec<Tag>,
    create_time: String,
    update_time: String,
}

#[derive(Debug, Clone)]
struct Member {
    /// Join order: DescribeOrganizationMembers lists accounts in it, as it always has.
    seq: u64,
    node: i64,
    tags: Vec<Tag>,
    create_time: String,
    update_time: String,
}

/// The department tree and the member accounts. The admin (manager) account is not a member.
#[derive(Debug, Clone)]
pub(super) struct Org {
    nodes: BTreeMap<i64, Node>,
    next_node_id: i64,
    members: BTreeMap<u64, Member>,
    next_member_seq: u64,
}

/// Documented name rule: 1-40 characters of letters, digits, Chinese characters and `+@&._[]-`.
pub(super) fn valid_node_name(name: &str) -> bool {
    let chinese = |c: char| matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}');
    !name.is_empty()
        && name.chars().count() <= NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || chinese(c) || "+@&._[]-".contains(c))
}

/// The tags a request sets: at most 10, each with a key, no key twice. The code is Tencent's
/// for a wrong tag (which checks it makes is not documented).
fn check_tags(tags: &[Tag]) -> Outcome<()> {
    let bad = |message: String| ActionError::new("InvalidParameter.TagError", message);
    if tags.len() > TAGS_MAX {
        return Err(bad(format!("At most {TAGS_MAX} tags are allowed")));
    }
    let mut keys = BTreeSet::new();
    for tag in tags {
        if tag.tag_key.is_empty() {
            return Err(bad("A tag needs a TagKey".to_owned()));
        }
        if !keys.insert(tag.tag_key.as_str()) {
            return Err(bad(format!("Tag key {} is given twice", tag.tag_key)));
        }
    }
    Ok(())
}

/// A Tags filter: at most 10 (documented), and an object must carry every one of them.
fn check_tag_filter(tags: Option<&[Tag]>) -> Outcome<()> {
    match tags {
        Some(t) if t.len() > TAGS_MAX => Err(ActionError::new(
            "InvalidParameter",
            format!("Tags takes at most {TAGS_MAX} tags"),
        )),
        _ => Ok(()),
    }
}

fn carries_all(carried: &[Tag], wanted: Option<&[Tag]>) -> bool {
    wanted.is_none_or(|wanted| wanted.iter().all(|w| carried.contains(w)))
}

/// One page by the Organization actions' rules. A `Limit` out of range is a value error, as
/// DescribeOrganizationMembers has always answered; an `Offset` that is not a multiple of
/// `Limit` gets `InvalidParameter`, the one parameter code both actions document.
fn page<T>(items: Vec<T>, offset: u64, limit: u64) -> Outcome<(Vec<T>, u64)> {
    if !(1..=LIMIT_MAX).contains(&limit) {
        return Err(value_error(format!("Limit must be between 1 and {LIMIT_MAX}")));
    }
    if offset % limit != 0 {
        return Err(ActionError::new(
            "InvalidParameter",
            format!("Offset must be a multiple of Limit ({limit}), got {offset}"),
        ));
    }
    let total = items.len() as u64;
    let items = items
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok((items, total))
}

fn path_names(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|name| !name.is_empty())
}

fn described(error: &ActionError) -> String {
    format!("{}: {}", error.code, error.message)
}

impl Org {
    /// The organization the settings describe: the root, `departments` (each path created below
    /// the root, its accounts placed there) and `member_tags`. Entries that cannot apply are
    /// skipped and returned as problems; `cic-bridge emulator` refuses to start on any.
    pub(super) fn build(settings: &Settings, now: &str) -> (Self, Vec<String>) {
        let mut org = Self {
            nodes: BTreeMap::from([(
                ROOT_NODE_ID,
                Node {
                    name: ROOT_NAME.to_owned(),
                    parent: 0,
                    remark: String::new(),
                    tags: Vec::new(),
                    create_time: now.to_owned(),
                    update_time: now.to_owned(),
                },
            )]),
            next_node_id: FIRST_NODE_ID,
            members: BTreeMap::new(),
            next_member_seq: 0,
        };
        let mut problems = Vec::new();
        for uin in &settings.member_uins {
            if *uin == settings.manager_uin {
                problems.push(format!("member {uin} is the admin account"));
            } else if !org.members.contains_key(uin) {
                org.join(*uin, ROOT_NODE_ID, now);
            }
        }
        let mut placed = BTreeMap::new();
        for (path, uins) in &settings.departments {
            let node = match org.ensure_path(path, now, settings.department_limit) {
                Ok(node) => node,
                Err(e) => {
                    problems.push(format!("department {path}: {}", described(&e)));
                    continue;
                }
            };
            for uin in uins {
                if !org.members.contains_key(uin) {
                    problems.push(format!("department {path}: {uin} is not a member account"));
                } else if let Some(other) = placed.insert(*uin, path.as_str()) {
                    problems.push(format!("member {uin} is listed in {other} and in {path}"));
                } else {
                    org.place(*uin, node, now);
                }
            }
        }
        for (uin, key, value) in &settings.member_tags {
            let Some(member) = org.members.get_mut(uin) else {
                problems.push(format!("member tag {key}={value}: {uin} is not a member account"));
                continue;
            };
            member.tags.retain(|t| t.tag_key != *key);
            member.tags.push(Tag {
                tag_key: key.clone(),
                tag_value: value.clone(),
            });
            if let Err(e) = check_tags(&member.tags) {
                problems.push(format!("member tags of {uin}: {}", described(&e)));
                member.tags.pop();
            }
        }
        (org, problems)
    }

    pub(super) fn is_member(&self, uin: u64) -> bool {
        self.members.contains_key(&uin)
    }

    fn join(&mut self, uin: u64, node: i64, now: &str) {
        self.next_member_seq += 1;
        self.members.insert(
            uin,
            Member {
                seq: self.next_member_seq,
                node,
                tags: Vec::new(),
                create_time: now.to_owned(),
                update_time: now.to_owned(),
            },
        );
    }

    fn place(&mut self, uin: u64, node: i64, now: &str) {
        if let Some(member) = self.members.get_mut(&uin) {
            member.node = node;
            member.update_time = now.to_owned();
        }
    }

    /// Levels below the root: the root is 0, a department directly under it 1.
    fn depth(&self, mut id: i64) -> usize {
        let mut depth = 0;
        while let Some(node) = self.nodes.get(&id).filter(|n| n.parent != 0) {
            depth += 1;
            id = node.parent;
        }
        depth
    }

    /// The child of `parent` named `name`. Names compare case-insensitively, like every other
    /// name in the emulator (Tencent documents no case rule). Uniqueness is among siblings: the
    /// FAQ's organization-wide rule reads like a copy of AWS's (see docs/emulator.md).
    fn child(&self, parent: i64, name: &str) -> Option<i64> {
        let name = lower(name);
        self.nodes
            .iter()
            .find(|(_, n)| n.parent == parent && lower(&n.name) == name)
            .map(|(id, _)| *id)
    }

    /// The department at `path` (names below the root, `/`-separated; empty: the root).
    pub(super) fn resolve(&self, path: &str) -> Option<i64> {
        path_names(path).try_fold(ROOT_NODE_ID, |node, name| self.child(node, name))
    }

    /// The department at `path`, creating what is missing with AddOrganizationNode's rules.
    fn ensure_path(&mut self, path: &str, now: &str, limit: u64) -> Outcome<i64> {
        let mut node = ROOT_NODE_ID;
        for name in path_names(path) {
            node = match self.child(node, name) {
                Some(child) => child,
                None => self.add(node, name, String::new(), Vec::new(), now, limit)?,
            };
        }
        Ok(node)
    }

    /// AddOrganizationNode's checks and effect, in this order: name, tags, parent, depth, count,
    /// then a sibling with the same name.
    fn add(&mut self, parent: i64, name: &str, remark: String, tags: Vec<Tag>, now: &str, limit: u64) -> Outcome<i64> {
        if !valid_node_name(name) {
            return Err(ActionError::new(
                "InvalidParameter",
                format!("Name must be 1-{NAME_MAX} letters, digits, Chinese characters or +@&._[]-, got {name:?}"),
            ));
        }
        check_tags(&tags)?;
        if !self.nodes.contains_key(&parent) {
            return Err(ActionError::new(
                "InvalidParameter.OrganizationNodeNotExist",
                format!("Node {parent} does not exist"),
            ));
        }
        if self.depth(parent) + 1 > MAX_DEPTH {
            return Err(ActionError::new(
                "LimitExceeded.NodeDepthExceedLimit",
                format!("Departments nest at most {MAX_DEPTH} levels below the root"),
            ));
        }
        if self.nodes.len() as u64 > limit {
            return Err(ActionError::new(
                "LimitExceeded.NodeExceedLimit",
                format!("The organization holds at most {limit} departments"),
            ));
        }
        if self.child(parent, name).is_some() {
            return Err(ActionError::new(
                "FailedOperation.OrganizationNodeNameUsed",
                format!("Node {parent} already has a department named {name}"),
            ));
        }
        let id = self.next_node_id;
        self.next_node_id += 1;
        self.nodes.insert(
            id,
            Node {
                name: name.to_owned(),
                parent,
                remark,
                tags,
                create_time: now.to_owned(),
                update_time: now.to_owned(),
            },
        );
        Ok(id)
    }

    fn node_info(&self, id: i64, node: &Node) -> OrgNode {
        OrgNode {
            node_id: id,
            name: node.name.clone(),
            parent_node_id: node.parent,
            remark: node.remark.clone(),
            create_time: node.create_time.clone(),
            update_time: node.update_time.clone(),
            tags: node.tags.clone(),
        }
    }

    /// Every department, root first, by NodeId.
    pub(super) fn node_infos(&self) -> Vec<OrgNode> {
        self.nodes.iter().map(|(id, n)| self.node_info(*id, n)).collect()
    }

    /// Every member account in join order, as DescribeOrganizationMembers lists them.
    pub(super) fn member_infos(&self) -> Vec<OrgMember> {
        let mut members: Vec<(&u64, &Member)> = self.members.iter().collect();
        members.sort_by_key(|(_, m)| m.seq);
        members
            .into_iter()
            .map(|(uin, m)| OrgMember {
                member_uin: *uin,
                name: format!("member-{uin}"),
                member_type: "Create".to_owned(),
                node_id: m.node,
                node_name: self.nodes.get(&m.node).map(|n| n.name.clone()).unwrap_or_default(),
                remark: String::new(),
                create_time: m.create_time.clone(),
                update_time: m.update_time.clone(),
                tags: m.tags.clone(),
            })
            .collect()
    }
}

impl State {
    /// Optional filters: `NodeId` (accounts directly in that department), `NodeName` (in a
    /// department of that name), `Tags` (carrying every one) and `SearchKey` (a substring of the
    /// account's name or UIN). `Lang`, `AuthName` and `Product` are accepted and ignored.
    pub(super) fn describe_organization_members(
        &mut self,
        r: DescribeOrganizationMembers,
        _: OffsetDateTime,
    ) -> Outcome<DescribeOrganizationMembersResponse> {
        check_tag_filter(r.tags.as_deref())?;
        let search = r.search_key.as_deref().map(lower).filter(|s| !s.is_empty());
        let node_name = r.node_name.as_deref().map(lower).filter(|s| !s.is_empty());
        let members = self
            .org
            .member_infos()
            .into_iter()
            .filter(|m| r.node_id.is_none_or(|id| m.node_id == id))
            .filter(|m| node_name.as_ref().is_none_or(|n| lower(&m.node_name) == *n))
            .filter(|m| carries_all(&m.tags, r.tags.as_deref()))
            .filter(|m| {
                search.as_ref().is_none_or(|s| {
                    lower(&m.name).contains(s.as_str()) || m.member_uin.to_string().contains(s.as_str())
                })
            })
            .collect();
        let (items, total) = page(members, r.offset, r.limit)?;
        Ok(DescribeOrganizationMembersResponse {
            items,
            total,
            request_id: String::new(),
        })
    }

    pub(super) fn describe_organization_nodes(
        &mut self,
        r: DescribeOrganizationNodes,
        _: OffsetDateTime,
    ) -> Outcome<DescribeOrganizationNodesResponse> {
        check_tag_filter(r.tags.as_deref())?;
        let nodes = self
            .org
            .node_infos()
            .into_iter()
            .filter(|n| carries_all(&n.tags, r.tags.as_deref()))
            .collect();
        let (items, total) = page(nodes, r.offset, r.limit)?;
        Ok(DescribeOrganizationNodesResponse {
            total,
            items,
            request_id: String::new(),
        })
    }

    pub(super) fn add_organization_node(
        &mut self,
        r: AddOrganizationNode,
        now: OffsetDateTime,
    ) -> Outcome<AddOrganizationNodeResponse> {
        let node_id = self.org.add(
            r.parent_node_id,
            &r.name,
            r.remark.unwrap_or_default(),
            r.tags.unwrap_or_default(),
            &format_time(now),
            self.settings.department_limit,
        )?;
        Ok(AddOrganizationNodeResponse {
            node_id,
            request_id: String::new(),
        })
    }

    /// Renames a department (siblings keep distinct names) or changes its remark; the root may
    /// be renamed too.
    pub(super) fn update_organization_node(
        &mut self,
        r: UpdateOrganizationNode,
        now: OffsetDateTime,
    ) -> Outcome<EmptyResponse> {
        let parent = match self.org.nodes.get(&r.node_id) {
            Some(node) => node.parent,
            None => {
                return Err(ActionError::new(
                    "FailedOperation.OrganizationNodeNotExist",
                    format!("Node {} does not exist", r.node_id),
                ));
            }
        };
        if let Some(name) = &r.name {
            if !valid_node_name(name) {
                return Err(ActionError::new(
                    "InvalidParameter",
                    format!("Name must be 1-{NAME_MAX} letters, digits, Chinese characters or +@&._[]-"),
                ));
            }
            if self.org.child(parent, name).is_some_and(|id| id != r.node_id) {
                return Err(ActionError::new(
                    "FailedOperation.OrganizationNodeNameUsed",
                    format!("Node {parent} already has a department named {name}"),
                ));
            }
        }
        if let Some(node) = self.org.nodes.get_mut(&r.node_id) {
            if let Some(name) = r.name {
                node.name = name;
            }
            if let Some(remark) = r.remark {
                node.remark = remark;
            }
            node.update_time = format_time(now);
        }
        Ok(EmptyResponse::default())
    }

    /// All or nothing. A department is refused while it holds accounts or a department that
    /// the same request does not delete too.
    pub(super) fn delete_organization_nodes(
        &mut self,
        r: DeleteOrganizationNodes,
        _: OffsetDateTime,
    ) -> Outcome<EmptyResponse> {
        if r.node_id.is_empty() {
            return Err(ActionError::new(
                "InvalidParameter",
                "NodeId must list at least one node",
            ));
        }
        let doomed: BTreeSet<i64> = r.node_id.iter().copied().collect();
        for id in &doomed {
            if *id == ROOT_NODE_ID {
                // Not documented; InvalidParameter is the one parameter code the action lists.
                return Err(ActionError::new("InvalidParameter", "The root node cannot be deleted"));
            }
            if !self.org.nodes.contains_key(id) {
                // The action documents no not-exist code; this is the one its siblings use.
                return Err(ActionError::new(
                    "ResourceNotFound.OrganizationNodeNotExist",
                    format!("Node {id} does not exist"),
                ));
            }
            let has_members = self.org.members.values().any(|m| m.node == *id);
            let has_children = self
                .org
                .nodes
                .iter()
                .any(|(child, n)| n.parent == *id && !doomed.contains(child));
            if has_members || has_children {
                return Err(ActionError::new(
                    "FailedOperation.OrganizationNodeNotEmpty",
                    format!("Node {id} still holds member accounts or departments"),
                ));
            }
        }
        self.org.nodes.retain(|id, _| !doomed.contains(id));
        Ok(EmptyResponse::default())
    }

    /// All or nothing: every UIN must be a member account.
    pub(super) fn move_organization_node_members(
        &mut self,
        r: MoveOrganizationNodeMembers,
        now: OffsetDateTime,
    ) -> Outcome<EmptyResponse> {
        if !self.org.nodes.contains_key(&r.node_id) {
            return Err(ActionError::new(
                "FailedOperation.OrganizationNodeNotExist",
                format!("Node {} does not exist", r.node_id),
            ));
        }
        if r.member_uin.is_empty() {
            return Err(ActionError::new(
                "InvalidParameter",
                "MemberUin must list at least one account",
            ));
        }
        if let Some(uin) = r.member_uin.iter().find(|uin| !self.org.is_member(**uin)) {
            return Err(ActionError::new(
                "FailedOperation.SomeUinsNotInOrganization",
                format!("Account {uin} is not a member of the organization"),
            ));
        }
        let now = format_time(now);
        for uin in r.member_uin {
            self.org.place(uin, r.node_id, &now);
        }
        Ok(EmptyResponse::default())
    }

    // Emulator-only: what Tencent changes through other services or the console.

    /// A new account joins the organization, in the department at `path` (created if missing;
    /// `None`: the root). From now on it is a valid `MemberUin` target.
    pub fn add_member_account(&mut self, uin: u64, path: Option<&str>, now: OffsetDateTime) -> Result<(), String> {
        if uin == self.settings.manager_uin {
            return Err(format!("{uin} is the admin account"));
        }
        if self.org.is_member(uin) {
            return Err(format!("{uin} is already a member account"));
        }
        let now = format_time(now);
        let node = self
            .org
            .ensure_path(path.unwrap_or_default(), &now, self.settings.department_limit)
            .map_err(|e| described(&e))?;
        self.org.join(uin, node, &now);
        Ok(())
    }

    /// The account leaves the organization: new role assignments and deployments on it get
    /// `FailedOperation.OrganizationMemberNotExist`; existing ones stay as they are.
    pub fn remove_member_account(&mut self, uin: u64) -> Result<(), String> {
        self.org
            .members
            .remove(&uin)
            .map(|_| ())
            .ok_or_else(|| format!("{uin} is not a member account"))
    }

    /// Replaces the account's tags.
    pub fn set_member_tags(&mut self, uin: u64, tags: &[(&str, &str)], now: OffsetDateTime) -> Result<(), String> {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(key, value)| Tag {
                tag_key: (*key).to_owned(),
                tag_value: (*value).to_owned(),
            })
            .collect();
        check_tags(&tags).map_err(|e| described(&e))?;
        let member = self
            .org
            .members
            .get_mut(&uin)
            .ok_or_else(|| format!("{uin} is not a member account"))?;
        member.tags = tags;
        member.update_time = format_time(now);
        Ok(())
    }

    /// Moves the account to the department at `path` (created if missing; empty: the root).
    pub fn move_member_account(&mut self, uin: u64, path: &str, now: OffsetDateTime) -> Result<(), String> {
        if !self.org.is_member(uin) {
            return Err(format!("{uin} is not a member account"));
        }
        let now = format_time(now);
        let node = self
            .org
            .ensure_path(path, &now, self.settings.department_limit)
            .map_err(|e| described(&e))?;
        self.org.place(uin, node, &now);
        Ok(())
    }

    /// The NodeId of the department at `path` (names below the root; empty: the root).
    pub fn department_id(&self, path: &str) -> Option<i64> {
        self.org.resolve(path)
    }
}
