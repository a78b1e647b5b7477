from desk.core.errors import NotFound, ValidationFailed


class BadEndpoint(ValidationFailed):
    code = "webhook.bad_endpoint"


class EndpointNotFound(NotFound):
    code = "webhook.not_found"
