export { createTasks, type Tasks, type TasksDeps } from './create-tasks.js'
export type { AddResult, Attempt, NewTask, TaskQueue, TaskRecord, TaskState } from './task-queue.js'
export { taskKeys, type TaskKeys } from './task-keys.js'
export { tasksSettings, checkTasksConfig, type TasksConfig } from './settings.js'
