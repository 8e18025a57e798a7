-- cognito-export ddl --dialect bigquery: BigLake tables and views over s3://my-bucket/cognito (Parquet), generated 2026-01-02T03:04:05.678Z
-- BigQuery reads Amazon S3 through BigQuery Omni: the dataset is in the bucket's Omni location (aws-eu-west-1), and the tables read through an AWS connection there
-- (bq mk --connection --connection_type=AWS --location=aws-eu-west-1 --iam_role_id=…): replace <project> and <connection> below. Run as one script: bq query --use_legacy_sql=false < this.sql
-- Nothing to refresh: each query lists the files. To copy into a dataset of a Google Cloud region instead, CREATE TABLE … AS SELECT from these views (a cross-cloud transfer), or LOAD DATA … FROM FILES (…) WITH CONNECTION.
CREATE SCHEMA IF NOT EXISTS `cognito` OPTIONS (location = 'aws-eu-west-1');
-- BigQuery wants no hive partition key among a file's columns, and the Parquet files hold user_pool_id: if it refuses this table, run ddl with --user-pool-id (partitions dt and run under the pool's folder).
CREATE OR REPLACE EXTERNAL TABLE `cognito`.`users_external`
WITH CONNECTION `<project>.aws-eu-west-1.<connection>`
WITH PARTITION COLUMNS (`user_pool_id` STRING, `dt` DATE, `run` STRING)
OPTIONS (format = 'PARQUET', uris = ['s3://my-bucket/cognito/users/*.parquet'], hive_partition_uri_prefix = 's3://my-bucket/cognito/users', enable_list_inference = true);
CREATE OR REPLACE VIEW `cognito`.`users_all` AS SELECT `user_pool_id`, `snapshot_id`, `username`, `sub`, `enabled`, `status`, `created_at`, `last_modified_at`, IF(`attributes` IS NULL, NULL, JSON_OBJECT(ARRAY(SELECT kv.key FROM UNNEST(`attributes`.key_value) AS kv WITH OFFSET AS o ORDER BY o), ARRAY(SELECT kv.value FROM UNNEST(`attributes`.key_value) AS kv WITH OFFSET AS o ORDER BY o))) AS `attributes`, `mfa_options`, `dt`, `run` FROM `cognito`.`users_external`;
-- BigQuery wants no hive partition key among a file's columns, and the Parquet files hold user_pool_id: if it refuses this table, run ddl with --user-pool-id (partitions dt and run under the pool's folder).
CREATE OR REPLACE EXTERNAL TABLE `cognito`.`groups_external`
WITH CONNECTION `<project>.aws-eu-west-1.<connection>`
WITH PARTITION COLUMNS (`user_pool_id` STRING, `dt` DATE, `run` STRING)
OPTIONS (format = 'PARQUET', uris = ['s3://my-bucket/cognito/groups/*.parquet'], hive_partition_uri_prefix = 's3://my-bucket/cognito/groups', enable_list_inference = true);
CREATE OR REPLACE VIEW `cognito`.`groups_all` AS SELECT `user_pool_id`, `snapshot_id`, `group_name`, `description`, `role_arn`, `precedence`, `created_at`, `last_modified_at`, `dt`, `run` FROM `cognito`.`groups_external`;
-- BigQuery wants no hive partition key among a file's columns, and the Parquet files hold user_pool_id: if it refuses this table, run ddl with --user-pool-id (partitions dt and run under the pool's folder).
CREATE OR REPLACE EXTERNAL TABLE `cognito`.`group_memberships_external`
WITH CONNECTION `<project>.aws-eu-west-1.<connection>`
WITH PARTITION COLUMNS (`user_pool_id` STRING, `dt` DATE, `run` STRING)
OPTIONS (format = 'PARQUET', uris = ['s3://my-bucket/cognito/group_memberships/*.parquet'], hive_partition_uri_prefix = 's3://my-bucket/cognito/group_memberships', enable_list_inference = true);
CREATE OR REPLACE VIEW `cognito`.`group_memberships_all` AS SELECT `user_pool_id`, `snapshot_id`, `group_name`, `username`, `sub`, `dt`, `run` FROM `cognito`.`group_memberships_external`;
-- BigQuery wants no hive partition key among a file's columns, and the Parquet files hold user_pool_id: if it refuses this table, run ddl with --user-pool-id (partitions dt and run under the pool's folder).
CREATE OR REPLACE EXTERNAL TABLE `cognito`.`user_changes_external`
WITH CONNECTION `<project>.aws-eu-west-1.<connection>`
WITH PARTITION COLUMNS (`user_pool_id` STRING, `dt` DATE, `run` STRING)
OPTIONS (format = 'PARQUET', uris = ['s3://my-bucket/cognito/user_changes/*.parquet'], hive_partition_uri_prefix = 's3://my-bucket/cognito/user_changes', enable_list_inference = true);
CREATE OR REPLACE VIEW `cognito`.`user_changes_all` AS SELECT `user_pool_id`, `snapshot_id`, `username`, `sub`, `enabled`, `status`, `created_at`, `last_modified_at`, IF(`attributes` IS NULL, NULL, JSON_OBJECT(ARRAY(SELECT kv.key FROM UNNEST(`attributes`.key_value) AS kv WITH OFFSET AS o ORDER BY o), ARRAY(SELECT kv.value FROM UNNEST(`attributes`.key_value) AS kv WITH OFFSET AS o ORDER BY o))) AS `attributes`, `mfa_options`, `op`, `from_snapshot_id`, `changed_fields`, `dt`, `run` FROM `cognito`.`user_changes_external`;
-- BigQuery wants no hive partition key among a file's columns, and the Parquet files hold user_pool_id: if it refuses this table, run ddl with --user-pool-id (partitions dt and run under the pool's folder).
CREATE OR REPLACE EXTERNAL TABLE `cognito`.`group_changes_external`
WITH CONNECTION `<project>.aws-eu-west-1.<connection>`
WITH PARTITION COLUMNS (`user_pool_id` STRING, `dt` DATE, `run` STRING)
OPTIONS (format = 'PARQUET', uris = ['s3://my-bucket/cognito/group_changes/*.parquet'], hive_partition_uri_prefix = 's3://my-bucket/cognito/group_changes', enable_list_inference = true);
CREATE OR REPLACE VIEW `cognito`.`group_changes_all` AS SELECT `user_pool_id`, `snapshot_id`, `group_name`, `description`, `role_arn`, `precedence`, `created_at`, `last_modified_at`, `op`, `from_snapshot_id`, `changed_fields`, `dt`, `run` FROM `cognito`.`group_changes_external`;
-- group_membership_changes: no file yet (run ddl again once it has one)
CREATE OR REPLACE VIEW `cognito`.`group_membership_changes_all` AS SELECT CAST(NULL AS STRING) AS `user_pool_id`, CAST(NULL AS STRING) AS `snapshot_id`, CAST(NULL AS STRING) AS `group_name`, CAST(NULL AS STRING) AS `username`, CAST(NULL AS STRING) AS `sub`, CAST(NULL AS STRING) AS `op`, CAST(NULL AS STRING) AS `from_snapshot_id`, CAST(NULL AS ARRAY<STRING>) AS `changed_fields`, CAST(NULL AS DATE) AS `dt`, CAST(NULL AS STRING) AS `run` LIMIT 0;
-- users, groups, group_memberships: each pool's newest run in each table (snapshot ids sort by time). BigQuery cannot read latest.json (one pretty-printed object), so a partial run (--no-groups, --filter) written here counts too.
CREATE OR REPLACE VIEW `cognito`.`users` AS SELECT t.* FROM `cognito`.`users_all` AS t JOIN (SELECT `user_pool_id`, MAX(`run`) AS `run` FROM `cognito`.`users_all` GROUP BY `user_pool_id`) AS l ON t.`user_pool_id` = l.`user_pool_id` AND t.`run` = l.`run`;
CREATE OR REPLACE VIEW `cognito`.`groups` AS SELECT t.* FROM `cognito`.`groups_all` AS t JOIN (SELECT `user_pool_id`, MAX(`run`) AS `run` FROM `cognito`.`groups_all` GROUP BY `user_pool_id`) AS l ON t.`user_pool_id` = l.`user_pool_id` AND t.`run` = l.`run`;
CREATE OR REPLACE VIEW `cognito`.`group_memberships` AS SELECT t.* FROM `cognito`.`group_memberships_all` AS t JOIN (SELECT `user_pool_id`, MAX(`run`) AS `run` FROM `cognito`.`group_memberships_all` GROUP BY `user_pool_id`) AS l ON t.`user_pool_id` = l.`user_pool_id` AND t.`run` = l.`run`;
CREATE OR REPLACE VIEW `cognito`.`user_changes` AS SELECT * FROM `cognito`.`user_changes_all`;
CREATE OR REPLACE VIEW `cognito`.`group_changes` AS SELECT * FROM `cognito`.`group_changes_all`;
CREATE OR REPLACE VIEW `cognito`.`group_membership_changes` AS SELECT * FROM `cognito`.`group_membership_changes_all`;
