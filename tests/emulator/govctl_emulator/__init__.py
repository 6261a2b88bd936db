"""Extensions that make moto behave like AWS where govctl depends on it.

`install()` patches moto's classes in place (moto dispatches each action to the
method of its response class with the same snake_case name); every extension is
backed by moto's own in-memory state, so `POST /moto-api/reset` clears it too.
"""

from . import config_select, iam_users, lambda_layers, lambda_revisions, sts_roles


def install() -> None:
    config_select.install()
    iam_users.install()
    lambda_layers.install()
    lambda_revisions.install()
    sts_roles.install()
