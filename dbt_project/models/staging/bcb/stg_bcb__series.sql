-- One row per SGS observation: series code, date and value, typed. The raw table is merged on
-- (codigo_serie, data), so no deduplication is needed here.
with

source as (

    select * from {{ source('raw_bcb', 'series') }}

),

renamed as (

    select
        codigo_serie::integer           as codigo_serie,
        data::date                      as data,
        valor::numeric(20, 6)           as valor,
        date_trunc('month', data)::date as mes

    from source

)

select * from renamed
