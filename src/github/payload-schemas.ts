import { z } from 'zod';

/**
 * The few fields of GitHub webhook payloads TeleCoder reads, checked before use: a delivery is
 * signed by GitHub, but its shape still decides which repository gets pushed to, so nothing is
 * read on trust. Unknown fields are dropped.
 */

const timestamp = z
  .string()
  .refine((value) => !Number.isNaN(Date.parse(value)), { error: 'must be an ISO 8601 time' })
  .transform((value) => new Date(Date.parse(value)).toISOString());

const id = z.number().int().positive();

export const userSchema = z.object({ login: z.string().min(1), type: z.string().min(1) });

export const repositorySchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  owner: z.object({ login: z.string().regex(/^[A-Za-z0-9-]+$/) }),
});

const base = {
  repository: repositorySchema,
  sender: userSchema,
  installation: z.object({ id }).optional().nullable().catch(undefined),
};

const label = z.object({ name: z.string() });

const issue = z.object({
  number: id,
  title: z.string(),
  body: z.string().nullable().optional(),
  state: z.string().optional(),
  labels: z.array(label).optional().nullable(),
  // Present (an object) when the "issue" is a pull request.
  pull_request: z.unknown().optional(),
  created_at: timestamp,
  updated_at: timestamp.optional().nullable(),
});

export const issuesEventSchema = z.object({ ...base, issue, label: label.optional().nullable() });

export const issueCommentEventSchema = z.object({
  ...base,
  issue,
  comment: z.object({ id, body: z.string().nullable(), created_at: timestamp }),
});

const pullRequest = z.object({
  number: id,
  title: z.string(),
  state: z.string().optional(),
  head: z.object({
    ref: z.string().min(1),
    // null when the fork the pull request came from was deleted.
    repo: z.object({ id }).nullable().optional(),
  }),
  base: z.object({ repo: z.object({ id }) }),
});

export const reviewCommentEventSchema = z.object({
  ...base,
  pull_request: pullRequest,
  comment: z.object({
    id,
    body: z.string().nullable(),
    path: z.string().min(1),
    line: z.number().int().nullable().optional(),
    original_line: z.number().int().nullable().optional(),
    diff_hunk: z.string().nullable().optional(),
    in_reply_to_id: id.nullable().optional(),
    pull_request_review_id: id.nullable().optional(),
    created_at: timestamp,
  }),
});

export const reviewEventSchema = z.object({
  ...base,
  pull_request: pullRequest,
  review: z.object({ id, body: z.string().nullable().optional(), state: z.string(), submitted_at: timestamp }),
});

export type IssuesEventFields = z.infer<typeof issuesEventSchema>;
export type IssueCommentEventFields = z.infer<typeof issueCommentEventSchema>;
export type ReviewCommentEventFields = z.infer<typeof reviewCommentEventSchema>;
export type ReviewEventFields = z.infer<typeof reviewEventSchema>;
