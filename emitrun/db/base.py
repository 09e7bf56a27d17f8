"""Django's PostgreSQL backend (ENGINE "emitrun.db"), with pooled connections checked the
way emitrun/dbpool.py says instead of with a round trip on every checkout.
"""

from typing import Any

from django.db.backends.postgresql import base

from emitrun import dbpool


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self.pool:
            return super().get_new_connection(conn_params)
        # Each dead connection found is dropped and another taken; a pool that cannot
        # make a new one raises its own timeout (503) from `getconn`.
        for _ in range(self.pool.max_size + 1):
            connection = super().get_new_connection(conn_params)
            if dbpool.usable(connection):
                return connection
            self.pool.putconn(connection)  # closed: the pool discards it
        raise base.Database.OperationalError("no usable connection in the pool")

    def _close(self) -> None:
        if self.pool and self.connection is not None:
            dbpool.returned(self.connection)
        super()._close()
