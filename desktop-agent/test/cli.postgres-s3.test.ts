// The same CLI suite on PostgreSQL + an S3 blob store (s3rver on loopback).
import { describe } from 'vitest';
import { NO_POSTGRES, postgresUrl } from '../../tests/support/env.ts';
import { postgresS3Backend } from './helpers.ts';
import { defineCliSuite } from './suite.ts';

describe.skipIf(!postgresUrl)(`coffer CLI against PostgreSQL + S3 (s3rver)${postgresUrl ? '' : ` — ${NO_POSTGRES}`}`, () => {
  defineCliSuite(postgresS3Backend);
});
