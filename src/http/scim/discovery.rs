//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7643 §5–§7).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{BaseUrl, ResourceId, scim_json};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::scim::ScimError;
use crate::scim::schema::{self, AttrDef, ResourceKind, SchemaDef};

pub async fn service_provider_config(State(state): State<AppState>, BaseUrl(base): BaseUrl) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [schema::SPC_SCHEMA],
            "documentationUri": "https://github.com/cic-bridge/cic-bridge#readme",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": state.settings.max_page_size},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with a bearer token in the Authorization header; each tenant has its own token.",
                "primary": true
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
        }),
    )
}

fn resource_type_json(kind: ResourceKind, base: &str) -> Value {
    let extensions: Vec<Value> = kind
        .extensions()
        .iter()
        .map(|s| json!({"schema": s.id, "required": false}))
        .collect();
    let mut v = json!({
        "schemas": [schema::RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": match kind { ResourceKind::User => "User Account", ResourceKind::Group => "Group" },
        "schema": kind.core().id,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", kind.name())}
    });
    if !extensions.is_empty() {
        v["schemaExtensions"] = Value::Array(extensions);
    }
    v
}

fn list_response(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources
    })
}

pub async fn resource_types(BaseUrl(base): BaseUrl) -> Response {
    let all = [ResourceKind::User, ResourceKind::Group]
        .iter()
        .map(|k| resource_type_json(*k, &base))
        .collect();
    scim_json(StatusCode::OK, &list_response(all))
}

pub async fn resource_type(BaseUrl(base): BaseUrl, ResourceId(name): ResourceId) -> Result<Response, ApiError> {
    let kind = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&name))
        .ok_or_else(|| ScimError::not_found(format!("no resource type \"{name}\"")))?;
    Ok(scim_json(StatusCode::OK, &resource_type_json(kind, &base)))
}

fn attr_json(a: &AttrDef) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty.as_str(),
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability.as_str(),
        "returned": a.returned.as_str(),
        "uniqueness": a.uniqueness.as_str(),
    });
    if !a.canonical_values.is_empty() {
        v["canonicalValues"] = json!(a.canonical_values);
    }
    if !a.reference_types.is_empty() {
        v["referenceTypes"] = json!(a.reference_types);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attr_json).collect());
    }
    v
}

fn schema_json(s: &SchemaDef, base: &str) -> Value {
    json!({
        "schemas": [schema::SCHEMA_SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)}
    })
}

const ALL_SCHEMAS: [&SchemaDef; 3] = [&schema::USER, &schema::ENTERPRISE_USER, &schema::GROUP];

pub async fn schemas(BaseUrl(base): BaseUrl) -> Response {
    scim_json(
        StatusCode::OK,
        &list_response(ALL_SCHEMAS.iter().map(|s| schema_json(s, &base)).collect()),
    )
}

pub async fn schema(BaseUrl(base): BaseUrl, ResourceId(id): ResourceId) -> Result<Response, ApiError> {
    let s = ALL_SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("no schema \"{id}\"")))?;
    Ok(scim_json(StatusCode::OK, &schema_json(s, &base)))
}
