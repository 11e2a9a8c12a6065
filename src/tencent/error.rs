//! Errors of the Identity Center client, each with the retry class the engine acts on.
//!
//! Tencent answers HTTP 200 even for failures; the outcome is `Response.Error.Code`. The code is
//! the contract (messages change), so the class is a pure function of the code, following the
//! reference's section 2 table and the per-action lists of section 0.

use std::fmt;

/// The Identity Center error codes the engine acts on by name (beyond their class): one
/// spelling of each, so a typo is a compile error rather than a branch that never matches.
macro_rules! codes {
    ($($(#[$m:meta])* $name:ident => $wire:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$m])* $name,)*
        }

        impl Code {
            /// The code as Identity Center spells it in `Response.Error.Code`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $wire,)*
                }
            }
        }
    };
}

codes! {
    UserNotExist => "ResourceNotFound.UserNotExist",
    GroupNotExist => "InvalidParameter.GroupNotExist",
    UsernameFormatError => "InvalidParameter.UsernameFormatError",
    GroupNameFormatError => "InvalidParameter.GroupNameFormatError",
    EmailAlreadyExists => "InvalidParameter.EmailAlreadyExists",
    GroupNameAlreadyExists => "InvalidParameter.GroupNameAlreadyExists",
    GroupUserNotExist => "InvalidParameter.GroupUserNotExist",
    GroupUserAlreadyExists => "InvalidParameter.GroupUserAlreadyExists",
    /// DeleteGroup/DeleteUser refused: the principal still holds role assignments.
    RoleConfigurationAuthorizationExist => "FailedOperation.RoleConfigurationAuthorizationExist",
    RoleConfigurationAuthorizationAlreadyExist => "FailedOperation.RoleConfigurationAuthorizationAlreadyExist",
    RoleConfigurationAuthorizationNotFound => "ResourceNotFound.RoleConfigurationAuthorizationNotFound",
    RoleConfigurationTaskNotFound => "ResourceNotFound.RoleConfigurationTaskNotFound",
    UserOverUpperLimit => "FailedOperation.UserOverUpperLimit",
    GroupOverUpperLimit => "FailedOperation.GroupOverUpperLimit",
    GroupUserCountOverUpperLimit => "FailedOperation.GroupUserCountOverUpperLimit",
    UserAddGroupCountOverUpperLimit => "FailedOperation.UserAddGroupCountOverUpperLimit",
}

/// What the caller should do with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Throttling, server faults, transport errors and timeouts: back off and try again.
    /// A create that failed this way may still have happened; look it up before re-sending.
    Retryable,
    /// The object (or membership, or assignment) already exists.
    Conflict,
    /// A zone or per-object quota is full. Retrying cannot help until capacity returns.
    Quota,
    /// The object named in the request does not exist (each resource has its own code).
    NotFound,
    /// The object still has dependants (group members, assignments, deployments): remove them
    /// first, then repeat.
    Dependency,
    /// Credentials, signature, permissions.
    Auth,
    /// The request itself is wrong: parameters, action, version.
    Invalid,
    /// Any other business outcome. Definitive: do not retry.
    Definitive,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        self == Self::Retryable
    }
}

/// A `Response.Error` from the API (or the emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

impl ApiError {
    pub fn class(&self) -> ErrorClass {
        classify_code(&self.code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (RequestId {})", self.code, self.message, self.request_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CicError {
    #[error("{action} failed with {error}")]
    Api { action: &'static str, error: ApiError },
    #[error("{action}: no answer within the request timeout")]
    Timeout { action: &'static str },
    #[error("{action}: transport error")]
    Transport {
        action: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// Tencent's gateway answers 200 for every API outcome; anything else is a proxy or
    /// load-balancer failure in between, which the SDKs also treat as a network error.
    #[error("{action}: unexpected HTTP status {status}")]
    HttpStatus { action: &'static str, status: u16 },
    #[error("{action}: response is not the documented envelope: {detail}")]
    Decode { action: &'static str, detail: String },
    #[error("pagination of {action} did not terminate: {detail}")]
    Pagination { action: &'static str, detail: String },
    #[error("Identity Center client is misconfigured: {0}")]
    Config(String),
}

impl CicError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api { error, .. } => error.class(),
            Self::Timeout { .. } | Self::Transport { .. } | Self::HttpStatus { .. } | Self::Decode { .. } => {
                ErrorClass::Retryable
            }
            Self::Pagination { .. } | Self::Config(_) => ErrorClass::Definitive,
        }
    }

    /// Whether Identity Center answered with `code`.
    pub fn is(&self, code: Code) -> bool {
        self.code() == Some(code.as_str())
    }

    /// `Response.Error.Code`, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api { error, .. } => Some(&error.request_id),
            _ => None,
        }
    }

    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Request-rate codes of individual CIC actions. Business throttles, distinct from the
/// platform's `RequestLimitExceeded`, but the remedy is the same. Note that
/// `LimitExceeded.ScimCredentialLimitExceeded` looks alike and is a quota (max 2 SCIM keys).
const ACTION_RATE_LIMIT_CODES: &[&str] = &[
    "LimitExceeded.CreateUserLimitExceeded",
    "LimitExceeded.AddUserToGroupLimitExceeded",
    "LimitExceeded.RemoveUserFromGroupLimitExceeded",
    "LimitExceeded.CreateRoleAssignmentLimitExceeded",
    "LimitExceeded.CreateUserSyncProvisioningLimitExceeded",
];

const RETRYABLE_PREFIXES: &[&str] = &[
    "RequestLimitExceeded",
    "InternalError",
    "ServiceUnavailable",
    "ResourceUnavailable",
    "ResourceInUse",
    "ResourceInsufficient",
];

const CONFLICT_CODES: &[&str] = &[
    "InvalidParameter.EmailAlreadyExists",
    "InvalidParameter.UsernameAlreadyExists",
    "InvalidParameter.GroupNameAlreadyExists",
    "InvalidParameter.GroupUserAlreadyExists",
    "InvalidParameter.ConfigurationNameAlreadyExists",
    "InvalidParameter.PolicyNameAlreadyExists",
    "FailedOperation.RoleConfigurationAuthorizationAlreadyExist",
    "FailedOperation.UserProvisioningAlreadyExists",
    "FailedOperation.X509CertificateAlreadyExist",
    "FailedOperation.IdentityCenterAlreadyOpen",
    "InvalidParameterValue.IdentityCenterZoneNameAlreadyExist",
];

const QUOTA_CODES: &[&str] = &[
    "FailedOperation.UserOverUpperLimit",
    "FailedOperation.GroupOverUpperLimit",
    "FailedOperation.ConfigurationOverUpperLimit",
    "FailedOperation.GroupUserCountOverUpperLimit",
    "FailedOperation.UserAddGroupCountOverUpperLimit",
    "FailedOperation.RoleConfigurationAuthorizationOverLimit",
    "FailedOperation.SystemPolicyOverUpperLimit",
    "FailedOperation.CustomPolicyOverUpperLimit",
    "FailedOperation.UserProvisioningOverLimit",
    "FailedOperation.X509CertificateLimitExceeded",
    "LimitExceeded.ScimCredentialLimitExceeded",
];

/// "Not found" is not uniform in this API: groups and role configurations use
/// `InvalidParameter.*NotExist`, zones and member accounts `FailedOperation.*`.
const NOT_FOUND_CODES: &[&str] = &[
    "FailedOperation.ZoneIdNotExist",
    "FailedOperation.IdentityCenterNotOpen",
    "FailedOperation.OrganizationMemberNotExist",
    "InvalidParameter.GroupNotExist",
    "InvalidParameter.RoleConfigurationNotExist",
    "InvalidParameter.RolePolicyNotExist",
    "InvalidParameter.GroupUserNotExist",
    "InvalidParameter.ScimCredentialNotFound",
];

/// Delete-ordering refusals (reference section 0.5).
const DEPENDENCY_CODES: &[&str] = &[
    "InvalidParameter.UserAlreadyExistsGroup",
    "FailedOperation.RoleConfigurationAuthorizationExist",
    "FailedOperation.UserProvisioningExists",
    "FailedOperation.DeleteGroupNotAllowExistUser",
    "FailedOperation.RoleConfigurationProvisioningAlreadyDeployed",
    "InvalidParameter.RolePolicyAlreadyExist",
];

const INVALID_CODES: &[&str] = &[
    "InvalidAction",
    "ActionOffline",
    "NoSuchProduct",
    "NoSuchVersion",
    "UnsupportedProtocol",
    "UnsupportedRegion",
    "UnsupportedOperation",
    "MissingParameter",
    "UnknownParameter",
    "InvalidRequest",
    "RequestSizeLimitExceeded",
    "ResponseSizeLimitExceeded",
];

fn is_or_under(code: &str, prefix: &str) -> bool {
    code == prefix || code.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'))
}

/// The retry class of a `Response.Error.Code`. Exact codes first, then families by prefix.
pub fn classify_code(code: &str) -> ErrorClass {
    if code == "FailedOperation.DBOperationError"
        || ACTION_RATE_LIMIT_CODES.contains(&code)
        || RETRYABLE_PREFIXES.iter().any(|p| is_or_under(code, p))
    {
        return ErrorClass::Retryable;
    }
    if CONFLICT_CODES.contains(&code) {
        return ErrorClass::Conflict;
    }
    if QUOTA_CODES.contains(&code) {
        return ErrorClass::Quota;
    }
    if NOT_FOUND_CODES.contains(&code) || is_or_under(code, "ResourceNotFound") {
        return ErrorClass::NotFound;
    }
    if DEPENDENCY_CODES.contains(&code) {
        return ErrorClass::Dependency;
    }
    // `AuthFailure.SignatureExpire` is clock skew: the client re-signs once with a fresh
    // timestamp itself, so what reaches the caller is persistent and needs a human.
    if is_or_under(code, "AuthFailure") || is_or_under(code, "UnauthorizedOperation") {
        return ErrorClass::Auth;
    }
    if INVALID_CODES.contains(&code)
        || is_or_under(code, "InvalidParameter")
        || is_or_under(code, "InvalidParameterValue")
    {
        return ErrorClass::Invalid;
    }
    ErrorClass::Definitive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes() {
        for code in [
            "RequestLimitExceeded",
            "RequestLimitExceeded.UinLimitExceeded",
            "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
            "RequestLimitExceeded.IPLimitExceeded",
            "InternalError",
            "InternalError.Anything",
            "ServiceUnavailable",
            "ResourceUnavailable",
            "ResourceInUse",
            "ResourceInsufficient",
            "FailedOperation.DBOperationError",
            "LimitExceeded.CreateUserLimitExceeded",
            "LimitExceeded.AddUserToGroupLimitExceeded",
            "LimitExceeded.RemoveUserFromGroupLimitExceeded",
            "LimitExceeded.CreateRoleAssignmentLimitExceeded",
            "LimitExceeded.CreateUserSyncProvisioningLimitExceeded",
        ] {
            assert_eq!(classify_code(code), ErrorClass::Retryable, "{code}");
        }
    }

    #[test]
    fn conflict_codes() {
        for code in CONFLICT_CODES {
            assert_eq!(classify_code(code), ErrorClass::Conflict, "{code}");
        }
        assert_eq!(
            classify_code("InvalidParameter.EmailAlreadyExists"),
            ErrorClass::Conflict
        );
        assert_eq!(
            classify_code("FailedOperation.RoleConfigurationAuthorizationAlreadyExist"),
            ErrorClass::Conflict
        );
    }

    #[test]
    fn quota_codes() {
        for code in QUOTA_CODES {
            assert_eq!(classify_code(code), ErrorClass::Quota, "{code}");
        }
        // Looks like a request-rate code, is a count limit.
        assert_eq!(
            classify_code("LimitExceeded.ScimCredentialLimitExceeded"),
            ErrorClass::Quota
        );
    }

    #[test]
    fn not_found_codes() {
        for code in [
            "ResourceNotFound.UserNotExist",
            "ResourceNotFound.RoleConfigurationAuthorizationNotFound",
            "ResourceNotFound.RoleConfigurationProvisioningNotFound",
            "ResourceNotFound.RoleConfigurationTaskNotFound",
            "ResourceNotFound.UserProvisioningTaskNotFound",
            "ResourceNotFound.UserProvisioningNotFound",
            "ResourceNotFound",
            "InvalidParameter.GroupNotExist",
            "InvalidParameter.RoleConfigurationNotExist",
            "InvalidParameter.GroupUserNotExist",
            "FailedOperation.ZoneIdNotExist",
            "FailedOperation.OrganizationMemberNotExist",
        ] {
            assert_eq!(classify_code(code), ErrorClass::NotFound, "{code}");
        }
    }

    #[test]
    fn dependency_codes() {
        for code in DEPENDENCY_CODES {
            assert_eq!(classify_code(code), ErrorClass::Dependency, "{code}");
        }
    }

    #[test]
    fn auth_codes() {
        for code in [
            "AuthFailure.SignatureExpire",
            "AuthFailure.SignatureFailure",
            "AuthFailure.InvalidAuthorization",
            "AuthFailure.SecretIdNotFound",
            "AuthFailure.InvalidSecretId",
            "AuthFailure.TokenFailure",
            "AuthFailure.MFAFailure",
            "AuthFailure.UnauthorizedOperation",
            "UnauthorizedOperation",
        ] {
            assert_eq!(classify_code(code), ErrorClass::Auth, "{code}");
        }
    }

    #[test]
    fn invalid_codes() {
        for code in [
            "InvalidAction",
            "NoSuchVersion",
            "MissingParameter",
            "UnknownParameter",
            "InvalidParameter",
            "InvalidParameter.UsernameFormatError",
            "InvalidParameter.GroupNameFormatError",
            "InvalidParameter.NextTokenInvalid",
            "InvalidParameterValue",
            "InvalidParameterValue.ZoneNameFormatError",
            "UnsupportedOperation",
            "RequestSizeLimitExceeded",
        ] {
            assert_eq!(classify_code(code), ErrorClass::Invalid, "{code}");
        }
    }

    #[test]
    fn definitive_codes() {
        for code in [
            "FailedOperation",
            "FailedOperation.SynchronizedUserNotUpdate",
            "FailedOperation.GroupTypeUserTypeNotMatch",
            "FailedOperation.RoleConfigurationProvisioningStatusError",
            "LimitExceeded",
            "IpInBlacklist",
            "DryRunOperation",
            "SomethingNew",
        ] {
            assert_eq!(classify_code(code), ErrorClass::Definitive, "{code}");
        }
    }

    #[test]
    fn prefix_match_needs_a_dot() {
        assert_eq!(classify_code("InternalErrorish"), ErrorClass::Definitive);
        assert_eq!(classify_code("AuthFailureX"), ErrorClass::Definitive);
    }

    #[test]
    fn non_api_errors_are_retryable() {
        assert!(CicError::Timeout { action: "GetUser" }.class().is_retryable());
        assert!(
            CicError::HttpStatus {
                action: "GetUser",
                status: 503
            }
            .class()
            .is_retryable()
        );
        assert!(
            CicError::Decode {
                action: "GetUser",
                detail: "x".into()
            }
            .class()
            .is_retryable()
        );
        let api = CicError::Api {
            action: "CreateUser",
            error: ApiError {
                code: "InvalidParameter.EmailAlreadyExists".into(),
                message: "m".into(),
                request_id: "r".into(),
            },
        };
        assert_eq!(api.class(), ErrorClass::Conflict);
        assert_eq!(api.code(), Some("InvalidParameter.EmailAlreadyExists"));
        assert_eq!(api.request_id(), Some("r"));
    }
}
