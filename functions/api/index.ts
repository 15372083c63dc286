/**
 * @module functions/api — a Hono app with several routes and JSON, deployed unchanged:
 * a Hono app already has the module-worker shape (`app.fetch(request, env, ctx)`).
 */
import { Hono } from "hono";

interface Todo {
  id: number;
  title: string;
  done: boolean;
}

const todos = new Map<number, Todo>([[1, { id: 1, title: "write a function", done: true }]]);
let nextId = 2;

const app = new Hono().basePath("/api");

app.get("/todos", (c) => c.json([...todos.values()]));

app.get("/todos/:id", (c) => {
  const todo = todos.get(Number(c.req.param("id")));
  return todo ? c.json(todo) : c.json({ error: "no such todo" }, 404);
});

app.post("/todos", async (c) => {
  const body = await c.req.json<{ title?: unknown }>().catch(() => ({}) as { title?: unknown });
  if (typeof body.title !== "string" || body.title === "") {
    return c.json({ error: 'expected a JSON body like {"title": "..."}' }, 400);
  }
  const todo = { id: nextId++, title: body.title, done: false };
  todos.set(todo.id, todo);
  return c.json(todo, 201);
});

app.get("/env", (c) => c.json({ stage: (c.env as Record<string, string>).STAGE ?? null }));

export default app;
