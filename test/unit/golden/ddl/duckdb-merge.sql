-- cognito-export ddl --dialect duckdb --merge-into warehouse: apply one run's change tables to warehouse.users, warehouse.groups and warehouse.group_memberships.
-- Once, from a snapshot (the views of ddl without --merge-into): CREATE SCHEMA warehouse; CREATE TABLE warehouse.users AS SELECT * FROM cognito.users; (and groups, group_memberships)
-- Then for each later run, in commit order: SET VARIABLE cognito_run = '<snapshot_id>'; and run these.
MERGE INTO "warehouse"."users" t
USING (SELECT * FROM "cognito"."user_changes" WHERE run = getvariable('cognito_run')) c
ON t."user_pool_id" = c."user_pool_id" AND t."sub" = c."sub"
WHEN MATCHED AND c."op" = 'delete' THEN DELETE
WHEN MATCHED AND c."op" = 'update' THEN UPDATE SET "snapshot_id" = c."snapshot_id", "username" = c."username", "enabled" = c."enabled", "status" = c."status", "created_at" = c."created_at", "last_modified_at" = c."last_modified_at", "attributes" = c."attributes", "mfa_options" = c."mfa_options", "dt" = c."dt", "run" = c."run"
WHEN NOT MATCHED AND c."op" = 'insert' THEN INSERT ("user_pool_id", "snapshot_id", "username", "sub", "enabled", "status", "created_at", "last_modified_at", "attributes", "mfa_options", "dt", "run") VALUES (c."user_pool_id", c."snapshot_id", c."username", c."sub", c."enabled", c."status", c."created_at", c."last_modified_at", c."attributes", c."mfa_options", c."dt", c."run");
MERGE INTO "warehouse"."groups" t
USING (SELECT * FROM "cognito"."group_changes" WHERE run = getvariable('cognito_run')) c
ON t."user_pool_id" = c."user_pool_id" AND t."group_name" = c."group_name"
WHEN MATCHED AND c."op" = 'delete' THEN DELETE
WHEN MATCHED AND c."op" = 'update' THEN UPDATE SET "snapshot_id" = c."snapshot_id", "description" = c."description", "role_arn" = c."role_arn", "precedence" = c."precedence", "created_at" = c."created_at", "last_modified_at" = c."last_modified_at", "dt" = c."dt", "run" = c."run"
WHEN NOT MATCHED AND c."op" = 'insert' THEN INSERT ("user_pool_id", "snapshot_id", "group_name", "description", "role_arn", "precedence", "created_at", "last_modified_at", "dt", "run") VALUES (c."user_pool_id", c."snapshot_id", c."group_name", c."description", c."role_arn", c."precedence", c."created_at", c."last_modified_at", c."dt", c."run");
MERGE INTO "warehouse"."group_memberships" t
USING (SELECT * FROM "cognito"."group_membership_changes" WHERE run = getvariable('cognito_run')) c
ON t."user_pool_id" = c."user_pool_id" AND t."group_name" = c."group_name" AND t."sub" = c."sub"
WHEN MATCHED AND c."op" = 'delete' THEN DELETE
WHEN NOT MATCHED AND c."op" = 'insert' THEN INSERT ("user_pool_id", "snapshot_id", "group_name", "username", "sub", "dt", "run") VALUES (c."user_pool_id", c."snapshot_id", c."group_name", c."username", c."sub", c."dt", c."run");
