"""The hot routes served straight from their FastAPI declaration.

FastAPI solves a route's parameters with generic code that inspects every field's
annotation again on each request, and reaches the route through its router's include
contexts and the error-handling middleware: on ``/trending`` that was most of a
request's CPU, the route itself a few microseconds (docs/API.md, Speed). A route given to
:class:`DirectRoutes` is still one FastAPI route, declared once: it documents the OpenAPI
schema, answers every method but GET and every path the middleware does not serve. For a
GET of its exact path, the middleware calls the route's request-only dependencies as they
are, validates the query with the validators FastAPI built for the route's parameters,
calls the endpoint and sends the Response it returns; an error goes to the app's own
exception handlers, so bodies, headers and statuses are those of the FastAPI route.
(``app.dependency_overrides`` does not reach these routes' dependencies.) With tracing on,
the request's span gets the route's name as the router would give it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from copy import deepcopy
from typing import Any, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.telemetry._api import _route_selected
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

#: Parameter types FastAPI reads from every occurrence of the parameter, not one value.
_SEQUENCES = (list, set, frozenset, tuple)
#: The dependant's fields that name FastAPI's special parameters besides the Request.
_SPECIAL_PARAMETERS = ("response_param_name", "background_tasks_param_name",
                       "http_connection_param_name", "websocket_param_name",
                       "security_scopes_param_name")
#: Defaults used as they are; FastAPI copies the others for each request, and so does this.
_IMMUTABLE = frozenset({int, float, str, bool, type(None)})


def _parameters_besides_query_and_request(dependant: Dependant) -> bool:
    """Whether a dependant takes path, header, cookie or body parameters, or one of
    FastAPI's other special parameters (the Response, background tasks, the connection,
    security scopes)."""
    return bool(dependant.path_params or dependant.header_params or dependant.cookie_params
                or dependant.body_params) or any(
        getattr(dependant, name) is not None for name in _SPECIAL_PARAMETERS)


class DirectRoute:
    """A GET route compiled once from its declaration: optional single-valued query
    parameters and the Request as the endpoint's parameters, dependencies that take the
    Request only, a Response returned. Any other route raises ValueError here."""

    def __init__(self, route: APIRoute) -> None:
        dependant = route.dependant
        problems = []
        if route.methods != {"GET"}:
            problems.append("methods other than GET")
        if _parameters_besides_query_and_request(dependant):
            problems.append("parameters outside the query")
        for field in dependant.query_params:
            annotation = field.field_info.annotation
            if (field.field_info.is_required() or field.field_info.validation_alias is not None
                    or (get_origin(annotation) or annotation) in _SEQUENCES):
                problems.append(f"query parameter {field.alias!r} is required, has aliases "
                                "or takes several values")
        for dependency in dependant.dependencies:
            if (dependency.dependencies or dependency.query_params
                    or _parameters_besides_query_and_request(dependency)
                    or dependency.request_param_name is None
                    or not inspect.iscoroutinefunction(dependency.call)):
                problems.append(f"dependency {dependency.call.__name__} takes more than "
                                "the Request or is not a coroutine function")
        if not inspect.iscoroutinefunction(dependant.call):
            problems.append("the endpoint is not a coroutine function")
        returns = inspect.signature(dependant.call, eval_str=True).return_annotation
        if not (inspect.isclass(returns) and issubclass(returns, Response)):
            problems.append("the endpoint is not annotated to return a Response")
        if problems:
            raise ValueError(f"{route.path} cannot be served directly: {'; '.join(problems)}")
        self.route = route
        self._endpoint = dependant.call
        self._request_param = dependant.request_param_name
        self._dependencies = [(d.call, d.request_param_name) for d in dependant.dependencies]
        self._fields = [(field, field.alias, ("query", field.alias), field.default)
                        for field in dependant.query_params]

    async def response(self, request: Request) -> Response:
        """The endpoint's Response; raises what it or a dependency raises, or
        :class:`RequestValidationError` for invalid parameters (as FastAPI would)."""
        for call, request_param in self._dependencies:
            await call(**{request_param: request})
        query = request.query_params
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for field, alias, loc, default in self._fields:
            # `in` first: a missing key would cost get() a KeyError raised and caught.
            if alias in query:
                value = query[alias]
            else:
                value = default if type(default) in _IMMUTABLE else deepcopy(default)
                if not field.field_info.validate_default:
                    values[field.name] = value
                    continue
            valid, field_errors = field.validate(value, values, loc=loc)
            if field_errors:
                errors.extend(field_errors)
            else:
                values[field.name] = valid
        if errors:
            raise RequestValidationError(errors)
        if self._request_param is not None:
            values[self._request_param] = request
        return await self._endpoint(**values)


class DirectRoutes:
    """Serves a GET of each given route's exact path with :class:`DirectRoute`; any other
    request goes on to the app.

    ``exception_handlers`` is the app's mapping (by exception class); a handler for
    ``Exception`` or 500 is left to Starlette's outermost middleware, as FastAPI does.
    """

    def __init__(self, app: ASGIApp, routes: Iterable[APIRoute],
                 exception_handlers: Mapping[Any, ExceptionHandler]) -> None:
        self.app = app
        self.routes = {route.path: DirectRoute(route) for route in routes}
        self.exception_handlers = exception_handlers

    def handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The app's handler for ``exc``, by its class and then its bases."""
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = (self.routes.get(scope["path"])
                  if scope["type"] == "http" and scope["method"] == "GET"
                  and not scope.get("root_path") else None)
        if direct is None:
            await self.app(scope, receive, send)
            return
        # What FastAPI's router puts in the scope of a matched route.
        scope["route"] = direct.route
        scope["endpoint"] = direct.route.endpoint
        scope["path_params"] = {}
        if "fastapi.telemetry" in scope:  # tracing on: name the span by its route too
            _route_selected(scope=scope, path=direct.route.path)
        request = Request(scope, receive, send)
        try:
            response = await direct.response(request)
        except Exception as exc:
            handler = self.handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)
