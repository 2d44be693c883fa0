/** What the HTTP layer turns into a status code; `message` is what IntegreSQL's server says. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** How a client connects to a template or test database (IntegreSQL's JSON field names). */
export interface DatabaseConfig {
  host: string
  port: number
  username: string
  password: string
  database: string
}

export interface TemplateDatabase {
  database: { templateHash: string; config: DatabaseConfig }
}

export interface TestDatabase extends TemplateDatabase {
  id: number
}
