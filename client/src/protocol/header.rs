//! Typed request and response headers: the `extFields` of a command as Rust structs.
//!
//! Each header is declared once with `command_header!`, naming its Java field spelling next to
//! the Rust field; the macro writes both directions. Required fields missing from a request
//! become `ProtocolError::MissingField` (Java's `@CFNotNull`), unparsable values become
//! `InvalidField`; both name the field, so the error response tells the client what was wrong.

use super::command::ExtFields;
use super::error::ProtocolError;

/// A struct that travels as a command's extFields.
pub trait CommandHeader: Sized {
    fn to_ext_fields(&self) -> ExtFields;
    fn from_ext_fields(fields: &ExtFields) -> Result<Self, ProtocolError>;
}

/// A scalar that travels as one extFields string.
pub trait HeaderValue: Sized {
    fn parse(text: &str, field: &'static str) -> Result<Self, ProtocolError>;
    fn render(&self) -> String;
}

/// A header field: a required scalar, or an optional one (`Option<T>`).
pub trait HeaderField: Sized {
    fn read(fields: &ExtFields, key: &'static str) -> Result<Self, ProtocolError>;
    fn write(&self, key: &'static str, fields: &mut ExtFields);
}

impl<T: HeaderValue> HeaderField for T {
    fn read(fields: &ExtFields, key: &'static str) -> Result<Self, ProtocolError> {
        match fields.get(key) {
            Some(text) => T::parse(text, key),
            None => Err(ProtocolError::MissingField(key)),
        }
    }
    fn write(&self, key: &'static str, fields: &mut ExtFields) {
        fields.insert(key.to_owned(), self.render());
    }
}

impl<T: HeaderValue> HeaderField for Option<T> {
    fn read(fields: &ExtFields, key: &'static str) -> Result<Self, ProtocolError> {
        fields.get(key).map(|text| T::parse(text, key)).transpose()
    }
    fn write(&self, key: &'static str, fields: &mut ExtFields) {
        if let Some(value) = self {
            fields.insert(key.to_owned(), value.render());
        }
    }
}

impl HeaderValue for String {
    fn parse(text: &str, _field: &'static str) -> Result<Self, ProtocolError> {
        Ok(text.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

macro_rules! integer_header_value {
    ($($ty:ty),*) => {$(
        impl HeaderValue for $ty {
            fn parse(text: &str, field: &'static str) -> Result<Self, ProtocolError> {
                text.trim().parse().map_err(|_| ProtocolError::InvalidField {
                    field,
                    value: text.to_owned(),
                })
            }
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
integer_header_value!(i32, i64);

impl HeaderValue for bool {
    /// Java's `Boolean.parseBoolean` (only case-insensitive "true" is true), plus "1", which
    /// C++ clients send for true.
    fn parse(text: &str, _field: &'static str) -> Result<Self, ProtocolError> {
        let text = text.trim();
        Ok(text.eq_ignore_ascii_case("true") || text == "1")
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

/// Declares a header struct and its extFields mapping: `rust_name: Type = "javaName"`.
#[macro_export]
macro_rules! command_header {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$field_meta:meta])* $field:ident : $ty:ty = $key:literal),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $crate::protocol::header::CommandHeader for $name {
            fn to_ext_fields(&self) -> $crate::protocol::ExtFields {
                #[allow(unused_mut)]
                let mut fields = $crate::protocol::ExtFields::new();
                $($crate::protocol::header::HeaderField::write(&self.$field, $key, &mut fields);)*
                fields
            }

            fn from_ext_fields(
                #[allow(unused_variables)] fields: &$crate::protocol::ExtFields,
            ) -> Result<Self, $crate::protocol::ProtocolError> {
                Ok(Self {
                    $($field: $crate::protocol::header::HeaderField::read(fields, $key)?,)*
                })
            }
        }
    };
}

command_header! {
    /// REGISTER_BROKER (103), broker → name server.
    pub struct RegisterBrokerRequestHeader {
        broker_name: String = "brokerName",
        /// `ip:listenPort`, the address clients connect to.
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        /// `ip:haPort`, where slaves connect for replication.
        ha_server_addr: String = "haServerAddr",
        /// 0 = master, ≥ 1 = slave.
        broker_id: i64 = "brokerId",
        /// The body is the zlib form of RegisterBrokerBody.
        compressed: Option<bool> = "compressed",
        /// CRC-32 of the body masked with 0x7FFFFFFF; 0 or absent skips the check.
        body_crc32: Option<i32> = "bodyCrc32",
    }
}

command_header! {
    /// REGISTER_BROKER response: for a slave, where its master is.
    pub struct RegisterBrokerResponseHeader {
        ha_server_addr: Option<String> = "haServerAddr",
        master_addr: Option<String> = "masterAddr",
    }
}

command_header! {
    /// UNREGISTER_BROKER (104), sent by a broker at clean shutdown.
    pub struct UnregisterBrokerRequestHeader {
        broker_name: String = "brokerName",
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        broker_id: i64 = "brokerId",
    }
}

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105).
    pub struct GetRouteInfoRequestHeader {
        topic: String = "topic",
        accept_standard_json_only: Option<bool> = "acceptStandardJsonOnly",
    }
}

command_header! {
    /// GET_TOPICS_BY_CLUSTER (224).
    pub struct GetTopicsByClusterRequestHeader {
        cluster: String = "cluster",
    }
}

command_header! {
    /// QUERY_DATA_VERSION (322): has the name server seen this broker's topic data version?
    pub struct QueryDataVersionRequestHeader {
        broker_name: String = "brokerName",
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        broker_id: i64 = "brokerId",
    }
}

command_header! {
    /// QUERY_DATA_VERSION response.
    pub struct QueryDataVersionResponseHeader {
        changed: bool = "changed",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_NAMESRV (216).
    pub struct DeleteTopicFromNamesrvRequestHeader {
        topic: String = "topic",
        cluster_name: Option<String> = "clusterName",
    }
}

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205).
    pub struct WipeWritePermOfBrokerRequestHeader {
        broker_name: String = "brokerName",
    }
}

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER response.
    pub struct WipeWritePermOfBrokerResponseHeader {
        wipe_topic_count: i32 = "wipeTopicCount",
    }
}

command_header! {
    /// ADD_WRITE_PERM_OF_BROKER (327).
    pub struct AddWritePermOfBrokerRequestHeader {
        broker_name: String = "brokerName",
    }
}

command_header! {
    /// ADD_WRITE_PERM_OF_BROKER response.
    pub struct AddWritePermOfBrokerResponseHeader {
        add_topic_count: i32 = "addTopicCount",
    }
}

command_header! {
    /// PUT_KV_CONFIG (100).
    pub struct PutKvConfigRequestHeader {
        namespace: String = "namespace",
        key: String = "key",
        value: String = "value",
    }
}

command_header! {
    /// GET_KV_CONFIG (101).
    pub struct GetKvConfigRequestHeader {
        namespace: String = "namespace",
        key: String = "key",
    }
}

command_header! {
    /// GET_KV_CONFIG response.
    pub struct GetKvConfigResponseHeader {
        value: Option<String> = "value",
    }
}

command_header! {
    /// DELETE_KV_CONFIG (102).
    pub struct DeleteKvConfigRequestHeader {
        namespace: String = "namespace",
        key: String = "key",
    }
}

command_header! {
    /// GET_KVLIST_BY_NAMESPACE (219).
    pub struct GetKvListByNamespaceRequestHeader {
        namespace: String = "namespace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn register_header_round_trips_with_java_names() {
        let header = RegisterBrokerRequestHeader {
            broker_name: "broker-a".into(),
            broker_addr: "127.0.0.1:10911".into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: "127.0.0.1:10912".into(),
            broker_id: 1,
            compressed: Some(false),
            body_crc32: None,
        };
        let ext = header.to_ext_fields();
        assert_eq!(ext.get("brokerId").map(String::as_str), Some("1"));
        assert_eq!(
            ext.get("haServerAddr").map(String::as_str),
            Some("127.0.0.1:10912")
        );
        assert!(!ext.contains_key("bodyCrc32"));
        assert_eq!(
            RegisterBrokerRequestHeader::from_ext_fields(&ext).ok(),
            Some(header)
        );
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        let err = GetRouteInfoRequestHeader::from_ext_fields(&ExtFields::new());
        assert!(matches!(err, Err(ProtocolError::MissingField("topic"))));
        let err = UnregisterBrokerRequestHeader::from_ext_fields(&fields(&[
            ("brokerName", "a"),
            ("brokerAddr", "b"),
            ("clusterName", "c"),
            ("brokerId", "zero"),
        ]));
        assert!(matches!(
            err,
            Err(ProtocolError::InvalidField {
                field: "brokerId",
                ..
            })
        ));
    }

    #[test]
    fn booleans_follow_java_plus_cpp_ones() {
        for (text, expected) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("0", false),
            ("yes", false),
        ] {
            let header = GetRouteInfoRequestHeader::from_ext_fields(&fields(&[
                ("topic", "T"),
                ("acceptStandardJsonOnly", text),
            ]));
            assert_eq!(
                header.ok().and_then(|h| h.accept_standard_json_only),
                Some(expected),
                "{text}"
            );
        }
    }
}
