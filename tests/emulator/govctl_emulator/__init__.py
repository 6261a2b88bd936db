"""Extensions that make moto behave like AWS where govctl depends on it.

`install()` patches moto's classes in place (moto dispatches each action to the
method of its response class with the same snake_case name); every extension is
backed by moto's own in-memory state, so `POST /moto-api/reset` clears it too.

`wsgi_app()` puts what is not a moto patch in front of moto's WSGI app: the
control endpoints under /_govctl/ and, behind them, fault injection and request
statistics for every AWS request.
"""

from collections.abc import Callable
from typing import Any

from . import (
    aoss_settings,
    cfn_resources,
    config_remediation,
    config_select,
    control,
    cost_explorer,
    faults,
    iam_users,
    lambda_bulk,
    lambda_layers,
    lambda_paging,
    lambda_revisions,
    lambda_state,
    secrets_rotation,
    ssm_calendar,
    stacksets,
    sts_roles,
)
from . import smithy_cbor, user_notifications, user_notifications_cfn


def install() -> None:
    cfn_resources.install()
    config_remediation.install()
    config_select.install()
    cost_explorer.install()
    iam_users.install()
    lambda_layers.install()
    lambda_paging.install()
    lambda_revisions.install()
    ssm_calendar.install()
    secrets_rotation.install()
    stacksets.install()
    sts_roles.install()
    aoss_settings.install()
    user_notifications_cfn.install()
    lambda_state.install()  # last: it counts a change once the other wrappers are done


def wsgi_app(moto_app: Callable[..., Any]) -> control.ControlEndpoints:
    injector = faults.FaultInjection(user_notifications.UserNotifications(moto_app))
    return control.ControlEndpoints(
        smithy_cbor.SmithyRpcV2Cbor(injector),
        {
            ("POST", "/_govctl/faults"): injector.configure,
            ("GET", "/_govctl/faults"): lambda _: injector.configuration(),
            ("DELETE", "/_govctl/faults"): lambda _: injector.clear(),
            ("GET", "/_govctl/stats"): lambda _: injector.statistics(),
            ("DELETE", "/_govctl/stats"): lambda _: injector.reset_statistics(),
            ("POST", "/_govctl/bulk-functions"): lambda_bulk.create_functions,
            ("POST", "/_govctl/cost-explorer"): cost_explorer.seed_table,
            ("POST", "/_govctl/notification-events"): user_notifications.store_events,
        },
    )
