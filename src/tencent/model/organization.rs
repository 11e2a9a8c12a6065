//! Tencent Cloud Organization: its departments (the API's "nodes") and member accounts, as
//! `tencentcloud-sdk-python-organization` models them (`OrgNode`, `OrgMember`, `Tag`).
//!
//! These actions page by `Offset` (a multiple of `Limit`) and `Limit` (1-50) and answer `Items`
//! and `Total`, unlike the Identity Center lists' `NextToken`. Tencent documents several of the
//! answer's fields as "may be null", so those read `null` as empty.

use serde::Deserializer;

use super::*;

/// `null` (or absent) reads as the type's default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A tag on a department or a member account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    #[serde(deserialize_with = "null_default")]
    pub tag_key: String,
    #[serde(deserialize_with = "null_default")]
    pub tag_value: String,
}

/// A department of the organization. The root has no parent (`ParentNodeId` 0 or null).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OrgNode {
    pub node_id: i64,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub parent_node_id: i64,
    #[serde(deserialize_with = "null_default")]
    pub remark: String,
    #[serde(deserialize_with = "null_default")]
    pub create_time: String,
    #[serde(deserialize_with = "null_default")]
    pub update_time: String,
    #[serde(deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
}

/// Element of DescribeOrganizationMembers (the fields the bridge reads or the emulator
/// answers; the real answer has more, which are ignored).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OrgMember {
    pub member_uin: u64,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// `Invite` | `Create`.
    #[serde(deserialize_with = "null_default")]
    pub member_type: String,
    /// The department the account is in.
    #[serde(deserialize_with = "null_default")]
    pub node_id: i64,
    #[serde(deserialize_with = "null_default")]
    pub node_name: String,
    #[serde(deserialize_with = "null_default")]
    pub remark: String,
    #[serde(deserialize_with = "null_default")]
    pub create_time: String,
    #[serde(deserialize_with = "null_default")]
    pub update_time: String,
    #[serde(deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
}

/// Member accounts of the organization.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeOrganizationMembers {
    pub offset: u64,
    pub limit: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Members carrying every one of these tags (at most 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Members of this department.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeOrganizationMembersResponse {
    #[serde(deserialize_with = "null_default")]
    pub items: Vec<OrgMember>,
    pub total: u64,
    pub request_id: String,
}
action!(DescribeOrganizationMembers => DescribeOrganizationMembersResponse);

/// The organization's departments, the root included.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeOrganizationNodes {
    pub limit: u64,
    #[serde(default)]
    pub offset: u64,
    /// Departments carrying every one of these tags (at most 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeOrganizationNodesResponse {
    pub total: u64,
    #[serde(deserialize_with = "null_default")]
    pub items: Vec<OrgNode>,
    pub request_id: String,
}
action!(DescribeOrganizationNodes => DescribeOrganizationNodesResponse);

/// Adds a department under `ParentNodeId`; answers its `NodeId`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddOrganizationNode {
    pub parent_node_id: i64,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddOrganizationNodeResponse {
    pub node_id: i64,
    pub request_id: String,
}
action!(AddOrganizationNode => AddOrganizationNodeResponse);

/// Renames a department (or changes its remark).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateOrganizationNode {
    pub node_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

/// Deletes departments; refused while one holds members or sub-departments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteOrganizationNodes {
    pub node_id: Vec<i64>,
}

/// Moves member accounts into a department.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MoveOrganizationNodeMembers {
    pub node_id: i64,
    pub member_uin: Vec<u64>,
}

action!(UpdateOrganizationNode => EmptyResponse);
action!(DeleteOrganizationNodes => EmptyResponse);
action!(MoveOrganizationNodeMembers => EmptyResponse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_tencent_documents_as_nullable_read_as_empty() {
        let m: OrgMember = serde_json::from_str(
            r#"{"MemberUin": 100000000002, "Name": "pay", "NodeId": null, "NodeName": null, "Tags": null}"#,
        )
        .expect("decodes");
        assert_eq!((m.member_uin, m.node_id, m.tags.len()), (100000000002, 0, 0));
        let n: OrgNode =
            serde_json::from_str(r#"{"NodeId": 2004, "Name": "Payments", "ParentNodeId": 2001, "Tags": [{"TagKey": "env", "TagValue": "prod"}]}"#)
                .expect("decodes");
        assert_eq!(n.parent_node_id, 2001);
        assert_eq!(
            n.tags,
            vec![Tag {
                tag_key: "env".into(),
                tag_value: "prod".into()
            }]
        );
    }
}
