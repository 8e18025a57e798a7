-- cognito-export ddl --dialect bigquery --merge-into warehouse: apply one run's change tables to warehouse.users, warehouse.groups and warehouse.group_memberships.
-- warehouse is a dataset in a Google Cloud region. Once, from a snapshot: CREATE TABLE warehouse.users AS SELECT * FROM cognito.users; (and groups, group_memberships)
-- Then for each later run, in commit order: bq query --use_legacy_sql=false --parameter=cognito_run::<snapshot_id> < this.sql
CREATE OR REPLACE TABLE `warehouse`.`_cognito_user_changes` AS SELECT * FROM `cognito`.`user_changes` WHERE `run` = @cognito_run;
CREATE OR REPLACE TABLE `warehouse`.`_cognito_group_changes` AS SELECT * FROM `cognito`.`group_changes` WHERE `run` = @cognito_run;
CREATE OR REPLACE TABLE `warehouse`.`_cognito_group_membership_changes` AS SELECT * FROM `cognito`.`group_membership_changes` WHERE `run` = @cognito_run;
MERGE `warehouse`.`users` t
USING `warehouse`.`_cognito_user_changes` c
ON t.`user_pool_id` = c.`user_pool_id` AND t.`sub` = c.`sub`
WHEN MATCHED AND c.`op` = 'delete' THEN DELETE
WHEN MATCHED AND c.`op` = 'update' THEN UPDATE SET `snapshot_id` = c.`snapshot_id`, `username` = c.`username`, `enabled` = c.`enabled`, `status` = c.`status`, `created_at` = c.`created_at`, `last_modified_at` = c.`last_modified_at`, `attributes` = c.`attributes`, `mfa_options` = c.`mfa_options`, `dt` = c.`dt`, `run` = c.`run`
WHEN NOT MATCHED AND c.`op` = 'insert' THEN INSERT (`user_pool_id`, `snapshot_id`, `username`, `sub`, `enabled`, `status`, `created_at`, `last_modified_at`, `attributes`, `mfa_options`, `dt`, `run`) VALUES (c.`user_pool_id`, c.`snapshot_id`, c.`username`, c.`sub`, c.`enabled`, c.`status`, c.`created_at`, c.`last_modified_at`, c.`attributes`, c.`mfa_options`, c.`dt`, c.`run`);
MERGE `warehouse`.`groups` t
USING `warehouse`.`_cognito_group_changes` c
ON t.`user_pool_id` = c.`user_pool_id` AND t.`group_name` = c.`group_name`
WHEN MATCHED AND c.`op` = 'delete' THEN DELETE
WHEN MATCHED AND c.`op` = 'update' THEN UPDATE SET `snapshot_id` = c.`snapshot_id`, `description` = c.`description`, `role_arn` = c.`role_arn`, `precedence` = c.`precedence`, `created_at` = c.`created_at`, `last_modified_at` = c.`last_modified_at`, `dt` = c.`dt`, `run` = c.`run`
WHEN NOT MATCHED AND c.`op` = 'insert' THEN INSERT (`user_pool_id`, `snapshot_id`, `group_name`, `description`, `role_arn`, `precedence`, `created_at`, `last_modified_at`, `dt`, `run`) VALUES (c.`user_pool_id`, c.`snapshot_id`, c.`group_name`, c.`description`, c.`role_arn`, c.`precedence`, c.`created_at`, c.`last_modified_at`, c.`dt`, c.`run`);
MERGE `warehouse`.`group_memberships` t
USING `warehouse`.`_cognito_group_membership_changes` c
ON t.`user_pool_id` = c.`user_pool_id` AND t.`group_name` = c.`group_name` AND t.`sub` = c.`sub`
WHEN MATCHED AND c.`op` = 'delete' THEN DELETE
WHEN NOT MATCHED AND c.`op` = 'insert' THEN INSERT (`user_pool_id`, `snapshot_id`, `group_name`, `username`, `sub`, `dt`, `run`) VALUES (c.`user_pool_id`, c.`snapshot_id`, c.`group_name`, c.`username`, c.`sub`, c.`dt`, c.`run`);
DROP TABLE `warehouse`.`_cognito_user_changes`;
DROP TABLE `warehouse`.`_cognito_group_changes`;
DROP TABLE `warehouse`.`_cognito_group_membership_changes`;
