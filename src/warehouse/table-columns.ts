/** The tables' columns live with the layout (the Parquet writer needs them); warehouse code imports them from here. */
export * from '../storage/table-columns.js';
