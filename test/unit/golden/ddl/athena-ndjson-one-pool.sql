-- cognito-export ddl --dialect athena: external tables and views over s3://my-bucket/cognito for pool eu-west-1_AbCdEf123 (NDJSON), generated 2026-01-02T03:04:05.678Z
-- Run the statements one by one, in order (Athena runs one statement a query). After each export, run the MSCK REPAIR TABLE statements again: they register the new runs' folders as partitions.
-- Or let the export register them in AWS Glue (--glue-database, docs/configuration.md): its tables need no DDL at all.
-- No partition projection: `run` would have to be projected as `injected`, and Athena then requires run = '…' in every query, which the latest-snapshot views cannot give.
-- CREATE … IF NOT EXISTS keeps a table as it was: after a pool switches format (NDJSON, Parquet), DROP TABLE its …_external tables first.
CREATE DATABASE IF NOT EXISTS `cognito`;
CREATE EXTERNAL TABLE IF NOT EXISTS `cognito`.`users_external` (
  `user_pool_id` string,
  `snapshot_id` string,
  `username` string,
  `sub` string,
  `enabled` boolean,
  `status` string,
  `created_at` string,
  `last_modified_at` string,
  `attributes` map<string,string>,
  `mfa_options` array<struct<delivery_medium:string,attribute_name:string>>
)
PARTITIONED BY (`dt` date, `run` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'false')
LOCATION 's3://my-bucket/cognito/users/user_pool_id=eu-west-1_AbCdEf123/';
MSCK REPAIR TABLE `cognito`.`users_external`;
CREATE OR REPLACE VIEW "cognito"."users_all" AS SELECT "user_pool_id", "snapshot_id", "username", "sub", "enabled", "status", CAST(from_iso8601_timestamp("created_at") AS timestamp(3)) AS "created_at", CAST(from_iso8601_timestamp("last_modified_at") AS timestamp(3)) AS "last_modified_at", "attributes", "mfa_options", "dt", "run" FROM "cognito"."users_external";
CREATE EXTERNAL TABLE IF NOT EXISTS `cognito`.`groups_external` (
  `user_pool_id` string,
  `snapshot_id` string,
  `group_name` string,
  `description` string,
  `role_arn` string,
  `precedence` int,
  `created_at` string,
  `last_modified_at` string
)
PARTITIONED BY (`dt` date, `run` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'false')
LOCATION 's3://my-bucket/cognito/groups/user_pool_id=eu-west-1_AbCdEf123/';
MSCK REPAIR TABLE `cognito`.`groups_external`;
CREATE OR REPLACE VIEW "cognito"."groups_all" AS SELECT "user_pool_id", "snapshot_id", "group_name", "description", "role_arn", "precedence", CAST(from_iso8601_timestamp("created_at") AS timestamp(3)) AS "created_at", CAST(from_iso8601_timestamp("last_modified_at") AS timestamp(3)) AS "last_modified_at", "dt", "run" FROM "cognito"."groups_external";
CREATE EXTERNAL TABLE IF NOT EXISTS `cognito`.`group_memberships_external` (
  `user_pool_id` string,
  `snapshot_id` string,
  `group_name` string,
  `username` string,
  `sub` string
)
PARTITIONED BY (`dt` date, `run` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'false')
LOCATION 's3://my-bucket/cognito/group_memberships/user_pool_id=eu-west-1_AbCdEf123/';
MSCK REPAIR TABLE `cognito`.`group_memberships_external`;
CREATE OR REPLACE VIEW "cognito"."group_memberships_all" AS SELECT "user_pool_id", "snapshot_id", "group_name", "username", "sub", "dt", "run" FROM "cognito"."group_memberships_external";
CREATE EXTERNAL TABLE IF NOT EXISTS `cognito`.`user_changes_external` (
  `user_pool_id` string,
  `snapshot_id` string,
  `username` string,
  `sub` string,
  `enabled` boolean,
  `status` string,
  `created_at` string,
  `last_modified_at` string,
  `attributes` map<string,string>,
  `mfa_options` array<struct<delivery_medium:string,attribute_name:string>>,
  `op` string,
  `from_snapshot_id` string,
  `changed_fields` array<string>
)
PARTITIONED BY (`dt` date, `run` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'false')
LOCATION 's3://my-bucket/cognito/user_changes/user_pool_id=eu-west-1_AbCdEf123/';
MSCK REPAIR TABLE `cognito`.`user_changes_external`;
CREATE OR REPLACE VIEW "cognito"."user_changes_all" AS SELECT "user_pool_id", "snapshot_id", "username", "sub", "enabled", "status", CAST(from_iso8601_timestamp("created_at") AS timestamp(3)) AS "created_at", CAST(from_iso8601_timestamp("last_modified_at") AS timestamp(3)) AS "last_modified_at", "attributes", "mfa_options", "op", "from_snapshot_id", "changed_fields", "dt", "run" FROM "cognito"."user_changes_external";
CREATE EXTERNAL TABLE IF NOT EXISTS `cognito`.`group_changes_external` (
  `user_pool_id` string,
  `snapshot_id` string,
  `group_name` string,
  `description` string,
  `role_arn` string,
  `precedence` int,
  `created_at` string,
  `last_modified_at` string,
  `op` string,
  `from_snapshot_id` string,
  `changed_fields` array<string>
)
PARTITIONED BY (`dt` date, `run` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'false')
LOCATION 's3://my-bucket/cognito/group_changes/user_pool_id=eu-west-1_AbCdEf123/';
MSCK REPAIR TABLE `cognito`.`group_changes_external`;
CREATE OR REPLACE VIEW "cognito"."group_changes_all" AS SELECT "user_pool_id", "snapshot_id", "group_name", "description", "role_arn", "precedence", CAST(from_iso8601_timestamp("created_at") AS timestamp(3)) AS "created_at", CAST(from_iso8601_timestamp("last_modified_at") AS timestamp(3)) AS "last_modified_at", "op", "from_snapshot_id", "changed_fields", "dt", "run" FROM "cognito"."group_changes_external";
CREATE EXTERNAL TABLE IF NOT EXISTS `cognito`.`group_membership_changes_external` (
  `user_pool_id` string,
  `snapshot_id` string,
  `group_name` string,
  `username` string,
  `sub` string,
  `op` string,
  `from_snapshot_id` string,
  `changed_fields` array<string>
)
PARTITIONED BY (`dt` date, `run` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'false')
LOCATION 's3://my-bucket/cognito/group_membership_changes/user_pool_id=eu-west-1_AbCdEf123/';
MSCK REPAIR TABLE `cognito`.`group_membership_changes_external`;
CREATE OR REPLACE VIEW "cognito"."group_membership_changes_all" AS SELECT "user_pool_id", "snapshot_id", "group_name", "username", "sub", "op", "from_snapshot_id", "changed_fields", "dt", "run" FROM "cognito"."group_membership_changes_external";
-- users, groups, group_memberships: each pool's newest run in each table, from its partitions (snapshot ids sort by time). Athena cannot read latest.json (one pretty-printed object), so a partial run (--no-groups, --filter) written here counts too.
CREATE OR REPLACE VIEW "cognito"."users" AS SELECT * FROM "cognito"."users_all" WHERE "run" = (SELECT max("run") FROM "cognito"."users_external$partitions");
CREATE OR REPLACE VIEW "cognito"."groups" AS SELECT * FROM "cognito"."groups_all" WHERE "run" = (SELECT max("run") FROM "cognito"."groups_external$partitions");
CREATE OR REPLACE VIEW "cognito"."group_memberships" AS SELECT * FROM "cognito"."group_memberships_all" WHERE "run" = (SELECT max("run") FROM "cognito"."group_memberships_external$partitions");
CREATE OR REPLACE VIEW "cognito"."user_changes" AS SELECT * FROM "cognito"."user_changes_all";
CREATE OR REPLACE VIEW "cognito"."group_changes" AS SELECT * FROM "cognito"."group_changes_all";
CREATE OR REPLACE VIEW "cognito"."group_membership_changes" AS SELECT * FROM "cognito"."group_membership_changes_all";
