//! SCIM schema definitions (RFC 7643 §4 and §8.7): the single source of truth for attribute
//! names, types, mutability and case sensitivity. The filter parser, the PATCH engine, input
//! normalisation and `/Schemas` all read these tables, so a new attribute is added in one place.

/// Schema URNs used by this service.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition. `sub` is non-empty only for complex attributes.
#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [AttrDef],
}

impl AttrDef {
    /// Sub-attribute by name, case-insensitively (RFC 7643 §2.1).
    pub fn sub_attr(&self, name: &str) -> Option<&'static AttrDef> {
        // `sub` is 'static because every AttrDef lives in a static table.
        let subs: &'static [AttrDef] = self.sub;
        subs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }
}

const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        description,
        canonical_values: &[],
        reference_types: &[],
        sub: &[],
    }
}

const fn s(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::String, description)
}

const fn b(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::Boolean, description)
}

const fn complex(name: &'static str, description: &'static str, sub: &'static [AttrDef]) -> AttrDef {
    let mut a = attr(name, AttrType::Complex, description);
    a.sub = sub;
    a
}

const fn multi(mut a: AttrDef) -> AttrDef {
    a.multi = true;
    a
}

const fn required(mut a: AttrDef) -> AttrDef {
    a.required = true;
    a
}

const fn case_exact(mut a: AttrDef) -> AttrDef {
    a.case_exact = true;
    a
}

const fn mutability(mut a: AttrDef, m: Mutability) -> AttrDef {
    a.mutability = m;
    a
}

const fn returned(mut a: AttrDef, r: Returned) -> AttrDef {
    a.returned = r;
    a
}

const fn canonical(mut a: AttrDef, values: &'static [&'static str]) -> AttrDef {
    a.canonical_values = values;
    a
}

const fn reference(mut a: AttrDef, types: &'static [&'static str]) -> AttrDef {
    a.reference_types = types;
    a
}

/// Sub-attributes shared by the multi-valued string attributes of a User (emails, phoneNumbers, …).
macro_rules! multi_valued_string_sub {
    ($types:expr) => {
        &[
            s("value", "The attribute's value."),
            s("display", "A human-readable name, primarily used for display purposes."),
            canonical(s("type", "A label indicating the attribute's function."), $types),
            b("primary", "Whether this is the preferred value of the attribute."),
        ]
    };
}

/// A schema: its URN, name and attributes.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl SchemaDef {
    /// Attribute by name, case-insensitively.
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        let attrs: &'static [AttrDef] = self.attributes;
        attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// Attributes every resource has (RFC 7643 §3.1). `meta` is handled by the server.
pub static COMMON_ATTRIBUTES: &[AttrDef] = &[
    case_exact(returned(
        mutability(
            s(
                "id",
                "Unique identifier for the SCIM resource as defined by the service provider.",
            ),
            Mutability::ReadOnly,
        ),
        Returned::Always,
    )),
    case_exact(s(
        "externalId",
        "Identifier of the resource as defined by the provisioning client.",
    )),
    mutability(
        complex(
            "meta",
            "Resource metadata.",
            &[
                case_exact(mutability(
                    s("resourceType", "The name of the resource type of the resource."),
                    Mutability::ReadOnly,
                )),
                mutability(
                    attr(
                        "created",
                        AttrType::DateTime,
                        "When the resource was added to the service provider.",
                    ),
                    Mutability::ReadOnly,
                ),
                mutability(
                    attr(
                        "lastModified",
                        AttrType::DateTime,
                        "When the resource was last updated at the service provider.",
                    ),
                    Mutability::ReadOnly,
                ),
                case_exact(mutability(
                    reference(
                        attr("location", AttrType::Reference, "The URI of the resource."),
                        &["uri"],
                    ),
                    Mutability::ReadOnly,
                )),
                case_exact(mutability(
                    s("version", "The version (weak ETag) of the resource."),
                    Mutability::ReadOnly,
                )),
            ],
        ),
        Mutability::ReadOnly,
    ),
];

pub static USER: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: &[
        {
            let mut a = required(s(
                "userName",
                "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.",
            ));
            a.uniqueness = Uniqueness::Server;
            a
        },
        complex(
            "name",
            "The components of the user's real name.",
            &[
                s(
                    "formatted",
                    "The full name, including all middle names, titles, and suffixes as appropriate.",
                ),
                s("familyName", "The family name of the User."),
                s("givenName", "The given name of the User."),
                s("middleName", "The middle name(s) of the User."),
                s("honorificPrefix", "The honorific prefix(es) of the User."),
                s("honorificSuffix", "The honorific suffix(es) of the User."),
            ],
        ),
        s(
            "displayName",
            "The name of the User, suitable for display to end-users.",
        ),
        s("nickName", "The casual way to address the user in real life."),
        reference(
            attr(
                "profileUrl",
                AttrType::Reference,
                "A fully qualified URL pointing to a page representing the User's online profile.",
            ),
            &["external"],
        ),
        s("title", "The user's title, such as \"Vice President\"."),
        s(
            "userType",
            "Used to identify the relationship between the organization and the user.",
        ),
        s(
            "preferredLanguage",
            "Indicates the User's preferred written or spoken language.",
        ),
        s(
            "locale",
            "Used to indicate the User's default location for purposes of localizing items.",
        ),
        s(
            "timezone",
            "The User's time zone in the 'Olson' time zone database format.",
        ),
        b("active", "A Boolean value indicating the User's administrative status."),
        returned(
            mutability(
                s("password", "The User's cleartext password; write-only, never returned."),
                Mutability::WriteOnly,
            ),
            Returned::Never,
        ),
        multi(complex(
            "emails",
            "Email addresses for the user.",
            multi_valued_string_sub!(&["work", "home", "other"]),
        )),
        multi(complex(
            "phoneNumbers",
            "Phone numbers for the User.",
            multi_valued_string_sub!(&["work", "home", "mobile", "fax", "pager", "other"]),
        )),
        multi(complex(
            "ims",
            "Instant messaging addresses for the User.",
            multi_valued_string_sub!(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
        )),
        multi(complex(
            "photos",
            "URLs of photos of the User.",
            multi_valued_string_sub!(&["photo", "thumbnail"]),
        )),
        multi(complex(
            "addresses",
            "A physical mailing address for this User.",
            &[
                s(
                    "formatted",
                    "The full mailing address, formatted for display or use with a mailing label.",
                ),
                s("streetAddress", "The full street address component."),
                s("locality", "The city or locality component."),
                s("region", "The state or region component."),
                s("postalCode", "The zip code or postal code component."),
                s("country", "The country name component."),
                canonical(
                    s("type", "A label indicating the attribute's function."),
                    &["work", "home", "other"],
                ),
                b("primary", "Whether this is the preferred mailing address."),
            ],
        )),
        mutability(
            multi(complex(
                "groups",
                "A list of groups to which the user belongs; read-only, managed through the Group resource.",
                &[
                    mutability(
                        case_exact(s("value", "The identifier of the User's group.")),
                        Mutability::ReadOnly,
                    ),
                    mutability(
                        case_exact(reference(
                            attr(
                                "$ref",
                                AttrType::Reference,
                                "The URI of the corresponding Group resource.",
                            ),
                            &["Group"],
                        )),
                        Mutability::ReadOnly,
                    ),
                    mutability(
                        s("display", "A human-readable name, primarily used for display purposes."),
                        Mutability::ReadOnly,
                    ),
                    mutability(
                        canonical(s("type", "direct or indirect membership."), &["direct", "indirect"]),
                        Mutability::ReadOnly,
                    ),
                ],
            )),
            Mutability::ReadOnly,
        ),
        multi(complex(
            "entitlements",
            "A list of entitlements for the User.",
            multi_valued_string_sub!(&[]),
        )),
        multi(complex(
            "roles",
            "A list of roles for the User.",
            multi_valued_string_sub!(&[]),
        )),
        multi(complex(
            "x509Certificates",
            "A list of certificates issued to the User.",
            &[
                attr("value", AttrType::Binary, "The value of an X.509 certificate."),
                s("display", "A human-readable name, primarily used for display purposes."),
                s("type", "A label indicating the attribute's function."),
                b("primary", "Whether this is the preferred value."),
            ],
        )),
    ],
};

pub static ENTERPRISE_USER: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        s(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person.",
        ),
        s("costCenter", "Identifies the name of a cost center."),
        s("organization", "Identifies the name of an organization."),
        s("division", "Identifies the name of a division."),
        s("department", "Identifies the name of a department."),
        complex(
            "manager",
            "The User's manager.",
            &[
                case_exact(s(
                    "value",
                    "The id of the SCIM resource representing the User's manager.",
                )),
                case_exact(mutability(
                    reference(
                        attr("$ref", AttrType::Reference, "The URI of the manager's User resource."),
                        &["User"],
                    ),
                    Mutability::ReadOnly,
                )),
                mutability(
                    s("displayName", "The displayName of the User's manager."),
                    Mutability::ReadOnly,
                ),
            ],
        ),
    ],
};

pub static GROUP: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &[
        {
            let mut a = required(s("displayName", "A human-readable name for the Group."));
            a.uniqueness = Uniqueness::Server;
            a
        },
        multi(complex(
            "members",
            "A list of members of the Group.",
            &[
                mutability(
                    case_exact(s("value", "Identifier of the member of this Group.")),
                    Mutability::Immutable,
                ),
                mutability(
                    case_exact(reference(
                        attr("$ref", AttrType::Reference, "The URI of the member resource."),
                        &["User", "Group"],
                    )),
                    Mutability::Immutable,
                ),
                mutability(
                    s("display", "A human-readable name for the member."),
                    Mutability::ReadOnly,
                ),
                mutability(
                    canonical(s("type", "The type of member."), &["User", "Group"]),
                    Mutability::Immutable,
                ),
            ],
        )),
    ],
};

/// The resource types served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }

    pub fn core(self) -> &'static SchemaDef {
        match self {
            ResourceKind::User => &USER,
            ResourceKind::Group => &GROUP,
        }
    }

    pub fn extensions(self) -> &'static [&'static SchemaDef] {
        static USER_EXTENSIONS: [&SchemaDef; 1] = [&ENTERPRISE_USER];
        match self {
            ResourceKind::User => &USER_EXTENSIONS,
            ResourceKind::Group => &[],
        }
    }

    /// Schema (core or extension) by URN, case-insensitively.
    pub fn schema_by_urn(self, urn: &str) -> Option<&'static SchemaDef> {
        let core = self.core();
        if core.id.eq_ignore_ascii_case(urn) {
            return Some(core);
        }
        self.extensions()
            .iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}

/// Where a resolved attribute lives in a resource document.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr {
    /// `None` for core and common attributes (top level of the document); `Some(urn)` for an
    /// extension attribute, stored under the extension's URN key.
    pub extension: Option<&'static SchemaDef>,
    pub attr: &'static AttrDef,
    pub sub: Option<&'static AttrDef>,
}

impl ResolvedAttr {
    /// The definition that the path finally designates (the sub-attribute when there is one).
    pub fn leaf(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.attr)
    }
}

/// Resolves `[urn:]attr[.sub]` against a resource type, case-insensitively.
///
/// `urn` is the schema URN prefix if the path had one. A path whose URN is the core schema is
/// treated as unqualified (`urn:…:core:2.0:User:userName` is `userName`).
pub fn resolve(kind: ResourceKind, urn: Option<&str>, attr: &str, sub: Option<&str>) -> Option<ResolvedAttr> {
    let (extension, def) = match urn {
        Some(urn) => {
            let schema = kind.schema_by_urn(urn)?;
            if std::ptr::eq(schema, kind.core()) {
                (None, lookup_core(kind, attr)?)
            } else {
                (Some(schema), schema.attr(attr)?)
            }
        }
        None => (None, lookup_core(kind, attr)?),
    };
    let sub = match sub {
        Some(name) => Some(def.sub_attr(name)?),
        None => None,
    };
    Some(ResolvedAttr {
        extension,
        attr: def,
        sub,
    })
}

fn lookup_core(kind: ResourceKind, attr: &str) -> Option<&'static AttrDef> {
    let common: &'static [AttrDef] = COMMON_ATTRIBUTES;
    common
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(attr))
        .or_else(|| kind.core().attr(attr))
}

/// Splits a full attribute path such as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`
/// into (`Some(urn)`, `manager`, `Some(value)`), or `name.givenName` into (`None`, `name`, `Some(givenName)`).
///
/// The URN is recognised by matching the known schema URNs of `kind` as a case-insensitive prefix
/// followed by `:`; an unknown `urn:` prefix is returned whole as the URN with the text after the
/// last `:` as the attribute, so callers can report it.
pub fn split_path(kind: ResourceKind, path: &str) -> (Option<String>, String, Option<String>) {
    let mut schemas: Vec<&'static SchemaDef> = vec![kind.core()];
    schemas.extend_from_slice(kind.extensions());
    let (urn, rest) = 'found: {
        for schema in schemas {
            if path.len() > schema.id.len()
                && path.is_char_boundary(schema.id.len())
                && path[..schema.id.len()].eq_ignore_ascii_case(schema.id)
                && path.as_bytes()[schema.id.len()] == b':'
            {
                break 'found (Some(schema.id.to_string()), &path[schema.id.len() + 1..]);
            }
        }
        if path.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            if let Some(pos) = path.rfind(':') {
                break 'found (Some(path[..pos].to_string()), &path[pos + 1..]);
            }
        }
        (None, path)
    };
    match rest.split_once('.') {
        Some((a, s)) => (urn, a.to_string(), Some(s.to_string())),
        None => (urn, rest.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_case_insensitively_to_canonical_names() {
        let r = resolve(ResourceKind::User, None, "NAME", Some("familyname")).expect("resolves");
        assert_eq!(r.attr.name, "name");
        assert_eq!(r.leaf().name, "familyName");
        assert!(r.extension.is_none());
    }

    #[test]
    fn resolves_extension_and_core_urns() {
        let r = resolve(ResourceKind::User, Some(ENTERPRISE_USER_SCHEMA), "Department", None).expect("resolves");
        assert_eq!(r.extension.map(|s| s.id), Some(ENTERPRISE_USER_SCHEMA));
        let r = resolve(ResourceKind::User, Some(USER_SCHEMA), "userName", None).expect("resolves");
        assert!(r.extension.is_none());
        assert!(resolve(ResourceKind::Group, Some(ENTERPRISE_USER_SCHEMA), "department", None).is_none());
        assert!(resolve(ResourceKind::User, None, "nosuch", None).is_none());
    }

    #[test]
    fn splits_urn_qualified_paths() {
        let (u, a, s) = split_path(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        );
        assert_eq!(u.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(a, "manager");
        assert_eq!(s.as_deref(), Some("value"));
        let (u, a, s) = split_path(ResourceKind::User, "name.givenName");
        assert!(u.is_none());
        assert_eq!((a.as_str(), s.as_deref()), ("name", Some("givenName")));
        let (u, a, _) = split_path(ResourceKind::User, "urn:example:ext:1.0:User:badge");
        assert_eq!(u.as_deref(), Some("urn:example:ext:1.0:User"));
        assert_eq!(a, "badge");
    }

    #[test]
    fn a_path_with_a_multi_byte_character_where_urn_would_end_splits_as_a_plain_name() {
        // Found by fuzzing (fuzz/regressions/scim_filter): a `sortBy`, `attributes` or body key
        // whose fourth byte falls inside a character made the `urn:` check slice mid-character.
        assert_eq!(
            split_path(ResourceKind::User, "not\u{79a}mail.value"),
            (None, "not\u{79a}mail".to_string(), Some("value".to_string()))
        );
        assert_eq!(
            split_path(ResourceKind::Group, "urn\u{e9}"),
            (None, "urn\u{e9}".to_string(), None)
        );
    }
}
