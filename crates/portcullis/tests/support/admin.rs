//! Admin API clients for tests: a channel to one node with a bearer token on every call.

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// Adds `authorization: Bearer <token>` (or nothing, for `None`).
#[derive(Clone)]
pub struct Bearer(Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

/// A channel to `url` whose calls carry `token`.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Connects (lazily) to the admin API at `url` as `token`.
pub fn channel(url: &str, token: Option<&str>) -> Authed {
    let channel = Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
    InterceptedService::new(channel, Bearer(token.map(str::to_owned)))
}
