//! Typed requests to name servers: what brokers (registration), clients (routes) and admin
//! tools (cluster info, KV config, permissions) ask of them.
//!
//! Every call names the server it goes to; choosing among several name servers (random start,
//! round-robin failover) is the caller's policy.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::protocol::header::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader, CommandHeader,
    DeleteKvConfigRequestHeader, DeleteTopicFromNamesrvRequestHeader, GetKvConfigRequestHeader,
    GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, PutKvConfigRequestHeader, QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
    UnregisterBrokerRequestHeader, WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
};
use crate::protocol::route::{ClusterInfo, DataVersion, KvTable, TopicList, TopicRouteData};
use crate::protocol::topic_config::{RegisterBrokerBody, body_crc32};
use crate::protocol::{ExtFields, ProtocolError, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::{RemotingClient, RemotingError};

/// Why a request to a server did not give the wanted answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    #[error("{addr} answered code {code} to request {request_code}: {remark}")]
    Response {
        addr: String,
        request_code: i32,
        code: i32,
        remark: String,
    },
    #[error("{addr} sent an unreadable answer to request {request_code}: {source}")]
    Decode {
        addr: String,
        request_code: i32,
        #[source]
        source: ProtocolError,
    },
}

impl ClientError {
    /// The response code when the server answered with an error.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            ClientError::Response { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// What a name server told a registering broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterResult {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
    /// The `ORDER_TOPIC_CONFIG` KV namespace, when the name server has one.
    pub order_topic_config: Option<KvTable>,
}

/// Typed name-server requests over a shared [`RemotingClient`].
#[derive(Debug, Clone)]
pub struct NamesrvClient {
    remoting: Arc<RemotingClient>,
    timeout: Duration,
}

impl NamesrvClient {
    pub fn new(remoting: Arc<RemotingClient>, timeout: Duration) -> Self {
        NamesrvClient { remoting, timeout }
    }

    async fn call(
        &self,
        addr: &str,
        code: i32,
        ext_fields: ExtFields,
        body: Bytes,
    ) -> Result<RemotingCommand, ClientError> {
        let request = RemotingCommand::request(code, ext_fields).with_body(body);
        let response = self.remoting.invoke(addr, request, self.timeout).await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(ClientError::Response {
                addr: addr.to_owned(),
                request_code: code,
                code: response.code,
                remark: response.remark_text().to_owned(),
            });
        }
        Ok(response)
    }

    fn decoded<T>(
        addr: &str,
        code: i32,
        result: Result<T, ProtocolError>,
    ) -> Result<T, ClientError> {
        result.map_err(|source| ClientError::Decode {
            addr: addr.to_owned(),
            request_code: code,
            source,
        })
    }

    /// A request whose answer is a response header.
    async fn call_for_header<H: CommandHeader>(
        &self,
        addr: &str,
        code: i32,
        ext_fields: ExtFields,
        body: Bytes,
    ) -> Result<H, ClientError> {
        let response = self.call(addr, code, ext_fields, body).await?;
        Self::decoded(addr, code, H::from_ext_fields(&response.ext_fields))
    }

    /// A request whose answer is a body.
    async fn call_for_body<T>(
        &self,
        addr: &str,
        code: i32,
        ext_fields: ExtFields,
        decode: fn(&[u8]) -> Result<T, ProtocolError>,
    ) -> Result<T, ClientError> {
        let response = self.call(addr, code, ext_fields, Bytes::new()).await?;
        Self::decoded(addr, code, decode(&response.body))
    }

    /// Turns the "nothing there" answer `absent_code` into `Ok(None)`.
    fn absent_as_none<T>(
        result: Result<T, ClientError>,
        absent_code: i32,
    ) -> Result<Option<T>, ClientError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.response_code() == Some(absent_code) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// GET_ROUTEINFO_BY_TOPIC. `Ok(None)` when the name server knows no such topic.
    pub async fn route(
        &self,
        addr: &str,
        topic: &str,
    ) -> Result<Option<TopicRouteData>, ClientError> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_owned(),
            accept_standard_json_only: None,
        };
        let code = RequestCode::GET_ROUTEINFO_BY_TOPIC;
        let result = self
            .call_for_body(addr, code, header.to_ext_fields(), TopicRouteData::decode)
            .await;
        Self::absent_as_none(result, ResponseCode::TOPIC_NOT_EXIST)
    }

    /// REGISTER_BROKER with the body as JSON or zlib-compressed, and its CRC.
    pub async fn register_broker(
        &self,
        addr: &str,
        mut header: RegisterBrokerRequestHeader,
        body: &RegisterBrokerBody,
    ) -> Result<RegisterResult, ClientError> {
        let code = RequestCode::REGISTER_BROKER;
        let bytes = if header.compressed.unwrap_or(false) {
            Self::decoded(addr, code, body.encode_compressed())?
        } else {
            body.encode_json()
        };
        header.body_crc32 = Some(body_crc32(&bytes));
        let response = self
            .call(addr, code, header.to_ext_fields(), bytes.into())
            .await?;
        let response_header = Self::decoded(
            addr,
            code,
            RegisterBrokerResponseHeader::from_ext_fields(&response.ext_fields),
        )?;
        let order_topic_config = if response.body.is_empty() {
            None
        } else {
            Some(Self::decoded(addr, code, KvTable::decode(&response.body))?)
        };
        Ok(RegisterResult {
            master_addr: response_header.master_addr,
            ha_server_addr: response_header.ha_server_addr,
            order_topic_config,
        })
    }

    pub async fn unregister_broker(
        &self,
        addr: &str,
        header: UnregisterBrokerRequestHeader,
    ) -> Result<(), ClientError> {
        let code = RequestCode::UNREGISTER_BROKER;
        self.call(addr, code, header.to_ext_fields(), Bytes::new())
            .await
            .map(drop)
    }

    /// QUERY_DATA_VERSION: `(changed, the name server's stored version)`.
    pub async fn query_data_version(
        &self,
        addr: &str,
        header: QueryDataVersionRequestHeader,
        data_version: &DataVersion,
    ) -> Result<(bool, Option<DataVersion>), ClientError> {
        let code = RequestCode::QUERY_DATA_VERSION;
        let body = Bytes::from(data_version.encode());
        let response = self.call(addr, code, header.to_ext_fields(), body).await?;
        let changed = Self::decoded(
            addr,
            code,
            QueryDataVersionResponseHeader::from_ext_fields(&response.ext_fields),
        )?
        .changed;
        let stored = if response.body.is_empty() {
            None
        } else {
            Some(Self::decoded(
                addr,
                code,
                DataVersion::decode(&response.body),
            )?)
        };
        Ok((changed, stored))
    }

    pub async fn cluster_info(&self, addr: &str) -> Result<ClusterInfo, ClientError> {
        let code = RequestCode::GET_BROKER_CLUSTER_INFO;
        self.call_for_body(addr, code, ExtFields::new(), ClusterInfo::decode)
            .await
    }

    pub async fn all_topics(&self, addr: &str) -> Result<TopicList, ClientError> {
        let code = RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER;
        self.call_for_body(addr, code, ExtFields::new(), TopicList::decode)
            .await
    }

    pub async fn topics_by_cluster(
        &self,
        addr: &str,
        cluster: &str,
    ) -> Result<TopicList, ClientError> {
        let header = GetTopicsByClusterRequestHeader {
            cluster: cluster.to_owned(),
        };
        let code = RequestCode::GET_TOPICS_BY_CLUSTER;
        self.call_for_body(addr, code, header.to_ext_fields(), TopicList::decode)
            .await
    }

    pub async fn delete_topic(
        &self,
        addr: &str,
        topic: &str,
        cluster_name: Option<&str>,
    ) -> Result<(), ClientError> {
        let header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.to_owned(),
            cluster_name: cluster_name.map(str::to_owned),
        };
        let code = RequestCode::DELETE_TOPIC_IN_NAMESRV;
        self.call(addr, code, header.to_ext_fields(), Bytes::new())
            .await
            .map(drop)
    }

    /// WIPE_WRITE_PERM_OF_BROKER: the number of topics whose write permission was removed.
    pub async fn wipe_write_perm(&self, addr: &str, broker_name: &str) -> Result<i32, ClientError> {
        let header = WipeWritePermOfBrokerRequestHeader {
            broker_name: broker_name.to_owned(),
        };
        let code = RequestCode::WIPE_WRITE_PERM_OF_BROKER;
        let response: WipeWritePermOfBrokerResponseHeader = self
            .call_for_header(addr, code, header.to_ext_fields(), Bytes::new())
            .await?;
        Ok(response.wipe_topic_count)
    }

    /// ADD_WRITE_PERM_OF_BROKER: the number of topics made writable again.
    pub async fn add_write_perm(&self, addr: &str, broker_name: &str) -> Result<i32, ClientError> {
        let header = AddWritePermOfBrokerRequestHeader {
            broker_name: broker_name.to_owned(),
        };
        let code = RequestCode::ADD_WRITE_PERM_OF_BROKER;
        let response: AddWritePermOfBrokerResponseHeader = self
            .call_for_header(addr, code, header.to_ext_fields(), Bytes::new())
            .await?;
        Ok(response.add_topic_count)
    }

    pub async fn put_kv_config(
        &self,
        addr: &str,
        namespace: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ClientError> {
        let header = PutKvConfigRequestHeader {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
        };
        let code = RequestCode::PUT_KV_CONFIG;
        self.call(addr, code, header.to_ext_fields(), Bytes::new())
            .await
            .map(drop)
    }

    /// GET_KV_CONFIG. `Ok(None)` when the key is absent.
    pub async fn kv_config(
        &self,
        addr: &str,
        namespace: &str,
        key: &str,
    ) -> Result<Option<String>, ClientError> {
        let header = GetKvConfigRequestHeader {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
        };
        let code = RequestCode::GET_KV_CONFIG;
        let result: Result<GetKvConfigResponseHeader, _> = self
            .call_for_header(addr, code, header.to_ext_fields(), Bytes::new())
            .await;
        Ok(Self::absent_as_none(result, ResponseCode::QUERY_NOT_FOUND)?.and_then(|h| h.value))
    }

    pub async fn delete_kv_config(
        &self,
        addr: &str,
        namespace: &str,
        key: &str,
    ) -> Result<(), ClientError> {
        let header = DeleteKvConfigRequestHeader {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
        };
        let code = RequestCode::DELETE_KV_CONFIG;
        self.call(addr, code, header.to_ext_fields(), Bytes::new())
            .await
            .map(drop)
    }

    /// GET_KVLIST_BY_NAMESPACE. `Ok(None)` when the namespace is empty or absent.
    pub async fn kv_list(
        &self,
        addr: &str,
        namespace: &str,
    ) -> Result<Option<KvTable>, ClientError> {
        let header = GetKvListByNamespaceRequestHeader {
            namespace: namespace.to_owned(),
        };
        let code = RequestCode::GET_KVLIST_BY_NAMESPACE;
        let result = self
            .call_for_body(addr, code, header.to_ext_fields(), KvTable::decode)
            .await;
        Self::absent_as_none(result, ResponseCode::QUERY_NOT_FOUND)
    }

    /// GET_NAMESRV_CONFIG: the effective configuration as properties text.
    pub async fn namesrv_config(&self, addr: &str) -> Result<String, ClientError> {
        let code = RequestCode::GET_NAMESRV_CONFIG;
        let response = self
            .call(addr, code, ExtFields::new(), Bytes::new())
            .await?;
        Ok(String::from_utf8_lossy(&response.body).into_owned())
    }

    /// UPDATE_NAMESRV_CONFIG with properties text.
    pub async fn update_namesrv_config(
        &self,
        addr: &str,
        properties: &str,
    ) -> Result<(), ClientError> {
        let body = Bytes::copy_from_slice(properties.as_bytes());
        let code = RequestCode::UPDATE_NAMESRV_CONFIG;
        self.call(addr, code, ExtFields::new(), body)
            .await
            .map(drop)
    }
}

/// Splits RocketMQ's name-server list (`ip:port;ip:port`), dropping blanks.
pub fn parse_namesrv_addrs(list: &str) -> Vec<String> {
    list.split(';')
        .map(str::trim)
        .filter(|addr| !addr.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesrv_lists_split_on_semicolons() {
        assert_eq!(
            parse_namesrv_addrs(" 127.0.0.1:9876; ;127.0.0.1:9877;"),
            vec!["127.0.0.1:9876".to_owned(), "127.0.0.1:9877".to_owned()]
        );
        assert!(parse_namesrv_addrs("").is_empty());
    }
}
